package classify

import "strings"

// phrases is a list of lower-case phrases in order of preference. No
// phrase holds a line break, so a phrase found in "subject\ntext" is found
// in the subject or in the text: the rules search both without joining
// them.
type phrases struct {
	list  []string
	index *phraseIndex // of this list alone
}

// newPhrases indexes list.
func newPhrases(list ...string) *phrases {
	p := &phrases{list: list}
	p.index = newPhraseIndex(p)
	return p
}

// containsAny reports whether s contains one of the phrases, and the first
// such phrase in list order.
func containsAny(s string, p *phrases) (string, bool) {
	return p.first(s)
}

// first returns the first phrase in list order that one of texts contains.
func (p *phrases) first(texts ...string) (string, bool) {
	if i := p.index.find(texts...)[0]; i < len(p.list) {
		return p.list[i], true
	}
	return "", false
}

// phraseIndex finds, for each of several phrase lists, the first phrase
// (in list order) that a text contains, in one pass over the text instead
// of one strings.Contains per phrase: a sync classifies thousands of
// messages, and a few hundred scans of every text were most of the
// classifier's time.
type phraseIndex struct {
	lists []*phrases
	// starts has a bit for (a hash of) the first three bytes of every
	// phrase; a position whose three bytes' bit is clear starts no phrase.
	starts [1 << startBits / 64]uint64
	// refs[first[b]:first[b+1]] are the phrases that start with byte b,
	// each list's in list order.
	refs  []phraseRef
	first [257]uint16
	// short are the phrases of fewer than three bytes, searched for directly.
	short []phraseRef
}

// startBits is the size of the starts hash: a few hundred phrases fill
// under one in twenty of its 8,192 bits.
const startBits = 13

// phraseRef is phrase i of list l.
type phraseRef struct{ l, i int }

// shortText is the length under which a plain strings.Contains per phrase
// is as fast as the one-pass scan.
const shortText = 128

// newPhraseIndex indexes the lists together.
func newPhraseIndex(lists ...*phrases) *phraseIndex {
	x := &phraseIndex{lists: lists}
	var byFirst [256][]phraseRef
	for l, p := range lists {
		for i, s := range p.list {
			ref := phraseRef{l, i}
			if len(s) < 3 {
				x.short = append(x.short, ref)
				continue
			}
			k := startKey(s[0], s[1], s[2])
			x.starts[k/64] |= 1 << (k % 64)
			byFirst[s[0]] = append(byFirst[s[0]], ref)
		}
	}
	for b, refs := range byFirst {
		x.refs = append(x.refs, refs...)
		x.first[b+1] = uint16(len(x.refs))
	}
	return x
}

// startKey hashes three bytes to startBits bits (Fibonacci hashing).
func startKey(a, b, c byte) uint32 {
	return (uint32(a)<<16 | uint32(b)<<8 | uint32(c)) * 0x9E3779B1 >> (32 - startBits)
}

// find returns, for each list, the index of its first phrase (in list
// order) that one of texts contains, or the list's length.
func (x *phraseIndex) find(texts ...string) []int {
	best := make([]int, len(x.lists))
	for l, p := range x.lists {
		best[l] = len(p.list)
	}
	for _, s := range texts {
		if len(s) < shortText {
			x.findShort(s, best)
		} else {
			x.scan(s, best)
		}
	}
	return best
}

// findShort tries every phrase that could still improve best.
func (x *phraseIndex) findShort(s string, best []int) {
	for l, p := range x.lists {
		for i := 0; i < best[l]; i++ {
			if strings.Contains(s, p.list[i]) {
				best[l] = i
				break
			}
		}
	}
}

// scan improves best with one pass over s.
func (x *phraseIndex) scan(s string, best []int) {
	for _, r := range x.short {
		if r.i < best[r.l] && strings.Contains(s, x.lists[r.l].list[r.i]) {
			best[r.l] = r.i
		}
	}
	for i := 0; i+2 < len(s); i++ {
		k := startKey(s[i], s[i+1], s[i+2])
		if x.starts[k/64]&(1<<(k%64)) == 0 {
			continue
		}
		for _, r := range x.refs[x.first[s[i]]:x.first[int(s[i])+1]] {
			if r.i < best[r.l] && strings.HasPrefix(s[i:], x.lists[r.l].list[r.i]) {
				best[r.l] = r.i
			}
		}
	}
}
