package classify

import (
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// The date patterns as written, unanchored.
var (
	mdyRe = regexp.MustCompile(mdyPattern)
	dmyRe = regexp.MustCompile(dmyPattern)
	numRe = regexp.MustCompile(numPattern)
)

// referenceDates is findDates as the patterns say it, searching the whole
// text with each unanchored pattern: what the anchored search at candidate
// starts must reproduce.
func referenceDates(text string) []dateMatch {
	var ms []dateMatch
	for _, loc := range mdyRe.FindAllStringSubmatchIndex(text, maxDateMatches) {
		ms = append(ms, namedMatch(text, loc, 1, 2, 3, 4))
	}
	for _, loc := range dmyRe.FindAllStringSubmatchIndex(text, maxDateMatches) {
		ms = append(ms, namedMatch(text, loc, 3, 1, 2, 4))
	}
	for _, loc := range numRe.FindAllStringSubmatchIndex(text, maxDateMatches) {
		if m, ok := numericMatch(text, loc); ok {
			ms = append(ms, m)
		}
	}
	sort.SliceStable(ms, func(i, j int) bool {
		return ms[i].start < ms[j].start || ms[i].start == ms[j].start && ms[i].end > ms[j].end
	})
	var out []dateMatch
	for _, m := range ms {
		if len(out) > 0 && m.start < out[len(out)-1].end {
			continue
		}
		out = append(out, m)
	}
	return out
}

func TestFindDatesMatchesTheUnanchoredPatterns(t *testing.T) {
	check := func(t fataler, text string) {
		if got, want := findDates(text), referenceDates(text); !reflect.DeepEqual(got, want) {
			t.Fatalf("findDates(%q)\n got %+v\nwant %+v", text, got, want)
		}
	}
	for _, text := range []string{"", "back on may 5", "mayo 5, 2024 y 5 de mayo de 2024", "x5 may", "_5 may",
		"5may", "1er mai", "10-31 july", "july 10-31, 2013", "15.08. bis 2024-08-15", "05/07/2010 10.30 1.2.3",
		"émai 5 \u00e9 marzo 3", "5 de março de 2024", "sept. 3rd", "dez.5", "may\n5", "may\f5 june\t7",
		strings.Repeat("may 5 ", 60), strings.Repeat("1/2 ", 60), "until 3 august through 9 august"} {
		check(t, text)
	}
	for _, m := range seedMessages(t) {
		f := newFacts(m)
		check(t, normalizeDateText(f.lsubject+"\n"+capString(f.ltext, 8<<10)))
	}
	tokens := []string{"may", "mayo", "mai", "march", "março", "mär", "sept", "septiembre", "décembre", "5", "15",
		"31", "2024", "24", ".", " ", "  ", "-", "/", "\n", "\t", "de ", "of ", "th", "st", "er", "x", "_", "é", "to",
		"until", "bis", "a", "e", ",", "º", "10-31"}
	rapid.Check(t, func(t *rapid.T) {
		check(t, strings.Join(rapid.SliceOf(rapid.SampledFrom(tokens)).Draw(t, "tokens"), ""))
	})
}

func TestMonthNamesFitTheCandidateScan(t *testing.T) {
	for name := range monthNames {
		if len(name) > maxMonthName || strings.ContainsAny(name, ". \t\n\f\r") || !monthInitial[name[0]] {
			t.Errorf("month name %q: longer than %d bytes, holds a delimiter, or no initial", name, maxMonthName)
		}
	}
}

// fataler is what the checks need of a *testing.T or a *rapid.T.
type fataler interface {
	Fatalf(format string, args ...any)
}

// allPhrases are every phrase list the rules search.
func allPhrases() []*phrases {
	out := []*phrases{challengeStrong, challengeWeak, autoSubjectsStrong, autoSubjectsWeak, autoBodyPhrases,
		leftPhrases, ticketPhrases, vacationPhrases, daemonNames, bounceSubject, bounceBody, delayCues, hardCues,
		markerWords, listRejectPhrases}
	for _, p := range reasonPatterns {
		out = append(out, p.phrases)
	}
	return out
}

// naiveFirst is containsAny as one strings.Contains per phrase.
func naiveFirst(s string, p *phrases) int {
	for i, ph := range p.list {
		if strings.Contains(s, ph) {
			return i
		}
	}
	return len(p.list)
}

// Searching several lists, and several texts, in one pass finds for each
// list the phrase one strings.Contains per phrase finds in the texts
// joined by line breaks.
func TestPhraseIndexFindsTheFirstPhraseInListOrder(t *testing.T) {
	lists := allPhrases()
	for _, p := range lists {
		for _, ph := range p.list {
			if strings.ContainsAny(ph, "\r\n") {
				t.Fatalf("phrase %q holds a line break: texts joined by one would find it, separate texts not", ph)
			}
		}
	}
	all := newPhraseIndex(lists...)
	check := func(t fataler, texts ...string) {
		joined := strings.Join(texts, "\n")
		got := all.find(texts...)
		for l, p := range lists {
			if want := naiveFirst(joined, p); got[l] != want {
				t.Fatalf("list %d in %q: found %d, want %d", l, joined, got[l], want)
			}
			if ph, ok := p.first(texts...); ok != (got[l] < len(p.list)) || ok && ph != p.list[got[l]] {
				t.Fatalf("list %d alone in %q: %q %v", l, joined, ph, ok)
			}
		}
	}
	for _, m := range seedMessages(t) {
		f := newFacts(m)
		check(t, f.lsubject, f.lnotice)
		check(t, f.lsubject, capString(f.ltext, 8<<10))
	}
	var fragments []string
	for _, p := range lists {
		for _, ph := range p.list {
			fragments = append(fragments, ph, ph[:len(ph)/2], ph[len(ph)/2:])
		}
	}
	fragments = append(fragments, " ", "x", "\u00e9", strings.Repeat("filler ", 20))
	rapid.Check(t, func(t *rapid.T) {
		gen := rapid.SliceOf(rapid.SampledFrom(fragments))
		check(t, strings.Join(gen.Draw(t, "subject"), ""), strings.Join(gen.Draw(t, "text"), ""))
	})
}

// mayBeMarker never rules out a line that is a marker once lower-cased,
// whatever its first character.
func TestMayBeMarkerKeepsEveryMarker(t *testing.T) {
	var tails []string
	for _, p := range markerPhrases {
		tails = append(tails, p[1:])
	}
	tails = append(tails, "- original -", "= copy =")
	for r := rune(0); r < 0x10000; r++ {
		for _, tail := range tails {
			line := string(r) + tail
			if isMarkerLine(strings.ToLower(line)) && !mayBeMarker(line) {
				t.Fatalf("%q is a marker line but mayBeMarker rules it out", line)
			}
		}
	}
}
