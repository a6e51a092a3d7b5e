package imapsync

import (
	"context"
	"fmt"

	"github.com/emersion/go-imap/v2"
)

// defaultBatchSize is the number of UIDs per FETCH range.
const defaultBatchSize = 1000

// Cursor is the sync state of one mailbox, as stored by the caller
// (RFC 3501 section 2.3.1.1 UIDVALIDITY and UIDNEXT, RFC 7162 HIGHESTMODSEQ).
//
// During a rescan (Batch.Reset) intermediate cursors keep the old
// UIDVALIDITY, so that a crash mid-rescan restarts the rescan.
type Cursor struct {
	UIDValidity   uint32
	UIDNext       uint32 // as reported by SELECT at the end of the last complete pass
	HighestUID    uint32 // highest UID stored
	HighestModSeq uint64 // RFC 7162; 0 when unknown
	Messages      uint32 // messages the caller holds for this mailbox and UIDVALIDITY, not expunged
}

// Batch is what one step of a pass delivers; the caller stores Messages and
// Cursor in ONE transaction.
type Batch struct {
	Mailbox string
	// Reset: UIDVALIDITY changed, this is a rescan; the caller matches by
	// Message-ID to avoid duplicates. Set on every batch of a rescan pass.
	Reset bool
	// UIDValidity is the server's UIDVALIDITY, to which the UIDs of
	// Messages belong; during a rescan it differs from Cursor.UIDValidity.
	UIDValidity uint32
	Messages    []*Message
	// Present is non-nil only on the final batch, when the caller's message
	// count disagrees with the server's: every UID the server has now
	// (UID SEARCH ALL), so the caller marks the others expunged.
	Present *imap.UIDSet
	// Cursor is the cursor to store with this batch. Intermediate batches
	// advance only HighestUID; the final batch carries UIDNEXT,
	// HIGHESTMODSEQ and the message count from SELECT.
	Cursor Cursor
	Final  bool
}

// Relevant is asked, per batch after phase 1, which messages deserve
// phase 2. It returns one bool per message.
type Relevant func(ctx context.Context, msgs []*Message) ([]bool, error)

// SyncOptions tunes Sync.
type SyncOptions struct {
	BatchSize int      // UIDs per range, default 1000
	Relevant  Relevant // nil: no message gets phase 2
}

// pass is the state of one Sync call.
type pass struct {
	c         *Conn
	mailbox   string
	in        Cursor
	opts      SyncOptions
	emit      func(Batch) error
	sel       *imap.SelectData
	reset     bool   // UIDVALIDITY changed since a previous sync
	fresh     bool   // reset or first sync: start from UID 1
	bound     uint32 // UIDNEXT used to plan ranges
	highest   uint32 // highest UID delivered (or stored before)
	delivered uint32 // messages delivered in this pass
	last      Cursor // cursor of the last emitted batch
}

// Sync runs one incremental pass over a mailbox: EXAMINE (with CONDSTORE
// when supported, RFC 7162 section 3.1.8; read-only, so the applicant's own
// mail client still sees new mail as \Recent, RFC 3501 section 2.3.2),
// then nothing when nothing changed,
// everything from UID 1 when UIDVALIDITY changed (RFC 3501 section
// 2.3.1.1), else UID (HighestUID+1):* in pipelined ranges of BatchSize UIDs.
// emit is called per batch, in UID order; an emit error stops the pass.
// It returns the final cursor, or on error the cursor of the last batch
// emitted, from which a new Sync on a fresh Conn resumes.
func (c *Conn) Sync(ctx context.Context, mailbox string, cur Cursor, opts SyncOptions, emit func(Batch) error) (Cursor, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = defaultBatchSize
	}
	c.strays.reset()
	sel, err := c.selectMailbox(ctx, mailbox, true)
	if err != nil {
		return cur, err
	}
	p := newPass(c, mailbox, cur, opts, emit, sel)
	if !p.unchanged() {
		if err := p.fetchNew(ctx); err != nil {
			return p.last, fmt.Errorf("imapsync: sync %s: %w", mailbox, err)
		}
	}
	final, err := p.finish(ctx)
	if err != nil {
		return p.last, fmt.Errorf("imapsync: sync %s: %w", mailbox, err)
	}
	return final, nil
}

// newPass prepares a pass after SELECT.
func newPass(c *Conn, mailbox string, in Cursor, opts SyncOptions, emit func(Batch) error, sel *imap.SelectData) *pass {
	p := &pass{c: c, mailbox: mailbox, in: in, opts: opts, emit: emit, sel: sel, last: in,
		reset: in.UIDValidity != 0 && in.UIDValidity != sel.UIDValidity,
		fresh: in.UIDValidity != sel.UIDValidity, bound: uint32(sel.UIDNext)}
	if !p.fresh {
		p.highest = in.HighestUID
	}
	return p
}

// selectMailbox runs SELECT or EXAMINE (RFC 3501 sections 6.3.1, 6.3.2),
// with the CONDSTORE parameter when the server supports it.
func (c *Conn) selectMailbox(ctx context.Context, name string, readOnly bool) (*imap.SelectData, error) {
	verb := "SELECT " + name
	if readOnly {
		verb = "EXAMINE " + name
	}
	var data *imap.SelectData
	err := c.run(ctx, verb, func() error {
		var err error
		data, err = c.client.Select(name, &imap.SelectOptions{ReadOnly: readOnly, CondStore: c.condStore}).Wait()
		return err
	})
	if err != nil {
		return nil, err
	}
	if data.UIDValidity == 0 {
		return nil, fmt.Errorf("imapsync: %s: server sent no UIDVALIDITY", verb)
	}
	return data, nil
}

// unchanged reports the no-change case: same UIDVALIDITY, UIDNEXT, message
// count and, with CONDSTORE, HIGHESTMODSEQ.
func (p *pass) unchanged() bool {
	sel := p.sel
	return sameState(p.in, sel.UIDValidity, uint32(sel.UIDNext), sel.NumMessages, sel.HighestModSeq, p.c.condStore)
}

// uidRange is lo:hi, or lo:* when hi is 0 (the last range, which also picks
// up messages delivered during the pass).
type uidRange struct{ lo, hi uint32 }

// set is the range as a UID set.
func (r uidRange) set() imap.UIDSet {
	return imap.UIDSet{imap.UIDRange{Start: imap.UID(r.lo), Stop: imap.UID(r.hi)}}
}

// contains reports whether uid is in the range.
func (r uidRange) contains(uid uint32) bool {
	return uid >= r.lo && (r.hi == 0 || uid <= r.hi)
}

// rangeFrom plans the range starting at lo.
func (p *pass) rangeFrom(lo uint32) uidRange {
	hi := uint64(lo) + uint64(p.opts.BatchSize) - 1
	if p.bound == 0 || hi >= uint64(p.bound)-1 {
		return uidRange{lo: lo}
	}
	return uidRange{lo: lo, hi: uint32(hi)}
}

// phase1Options are the FETCH items of phase 1: no body, only the header
// fields in HeaderFields (BODY.PEEK keeps \Seen unset, RFC 3501 6.4.5).
func phase1Options() *imap.FetchOptions {
	return &imap.FetchOptions{UID: true, Flags: true, InternalDate: true, RFC822Size: true,
		BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader,
			HeaderFields: HeaderFields, Peek: true}}}
}

// phase1Request is the phase-1 fetch of one range.
func phase1Request(r uidRange) fetchRequest {
	key := sectionKey(nil, imap.PartSpecifierHeader, true)
	return fetchRequest{
		opts:     phase1Options(),
		complete: func(m *rawMsg) bool { _, ok := m.sections[key]; return ok },
		inRange:  r.contains,
	}
}

// fetchAhead is how many ranges' FETCH commands are in flight behind the
// one being read: the server always has phase-1 work queued while the
// client parses a range, asks Relevant and runs phase 2 for it, so it does
// not wait for the client's next command between ranges. Their answers are
// drained as they come, so memory holds at most fetchAhead+1 ranges.
const fetchAhead = 2

// inFlight is a range whose UID FETCH has been sent.
type inFlight struct {
	r   uidRange
	cmd *fetchCmd
}

// fetchNew fetches every new message range by range, with the next
// fetchAhead ranges' FETCH commands sent before the current one is drained
// (RFC 9051 section 5.5).
func (p *pass) fetchNew(ctx context.Context) error {
	start := p.highest + 1
	if err := p.fixBound(ctx, start); err != nil {
		return err
	}
	var queue []inFlight
	next, more := p.rangeFrom(start), true
	send := func() {
		queue = append(queue, inFlight{r: next, cmd: p.c.startFetch(next.set(), phase1Options())})
		if next.hi == 0 {
			more = false
		} else {
			next = p.rangeFrom(next.hi + 1)
		}
	}
	send()
	for len(queue) > 0 {
		for more && len(queue) <= fetchAhead {
			send()
		}
		cur := queue[0]
		queue = queue[1:]
		raws, err := p.c.finishFetch(ctx, cur.cmd, phase1Request(cur.r))
		if err == nil {
			err = p.deliver(ctx, raws)
		}
		if err != nil {
			for _, f := range queue {
				p.c.settle(ctx, f.cmd)
			}
			return err
		}
	}
	return nil
}

// fixBound replaces a missing or stale UIDNEXT (the count grew but UIDNEXT
// did not) by the highest UID + 1, so that ranges stay bounded.
func (p *pass) fixBound(ctx context.Context, start uint32) error {
	grew := p.sel.NumMessages > p.heldBefore()
	if p.sel.NumMessages == 0 || (p.bound != 0 && (p.bound > start || !grew)) {
		return nil
	}
	uid, err := p.c.lastUID(ctx, p.sel.NumMessages)
	if err != nil {
		return err
	}
	p.bound = max(p.bound, uid+1)
	return nil
}

// lastUID returns the UID of message number seq (FETCH seq (UID)).
func (c *Conn) lastUID(ctx context.Context, seq uint32) (uint32, error) {
	var uid uint32
	err := c.run(ctx, fmt.Sprintf("FETCH %d (UID)", seq), func() error {
		msgs, err := c.client.Fetch(imap.SeqSetNum(seq), &imap.FetchOptions{UID: true}).Collect()
		for _, m := range msgs {
			uid = max(uid, uint32(m.UID))
		}
		return err
	})
	return uid, err
}

// deliver parses one range's messages, runs phase 2 on the relevant ones
// and emits them as an intermediate batch.
func (p *pass) deliver(ctx context.Context, raws []*rawMsg) error {
	if len(raws) == 0 {
		return nil
	}
	msgs := make([]*Message, len(raws))
	for i, r := range raws {
		msgs[i] = newMessage(r)
	}
	if err := p.phase2(ctx, msgs); err != nil {
		return err
	}
	p.highest = max(p.highest, msgs[len(msgs)-1].UID)
	p.delivered += uint32(len(msgs))
	b := Batch{Mailbox: p.mailbox, Reset: p.reset, UIDValidity: p.sel.UIDValidity, Messages: msgs, Cursor: p.intermediate()}
	if err := p.emit(b); err != nil {
		return fmt.Errorf("emit: %w", err)
	}
	p.last = b.Cursor
	return nil
}

// phase2 asks Relevant which messages need a skeleton and fetches those.
func (p *pass) phase2(ctx context.Context, msgs []*Message) error {
	if p.opts.Relevant == nil {
		return nil
	}
	want, err := p.opts.Relevant(ctx, msgs)
	if err != nil {
		return fmt.Errorf("relevant: %w", err)
	}
	if len(want) != len(msgs) {
		return fmt.Errorf("relevant: %d answers for %d messages", len(want), len(msgs))
	}
	var chosen []*Message
	for i, ok := range want {
		if ok {
			chosen = append(chosen, msgs[i])
		}
	}
	if len(chosen) == 0 {
		return nil
	}
	return p.c.fillSkeletons(ctx, chosen)
}

// intermediate is the cursor stored with a non-final batch: only HighestUID
// moves, so a crash mid-pass never looks like a complete pass. A first sync
// records the new UIDVALIDITY so that it can resume; a rescan keeps the old
// one so that it restarts.
func (p *pass) intermediate() Cursor {
	c := p.in
	c.HighestUID = p.highest
	if c.UIDValidity == 0 {
		c.UIDValidity = p.sel.UIDValidity
	}
	return c
}

// heldBefore is what the caller held for this UIDVALIDITY before the pass.
func (p *pass) heldBefore() uint32 {
	if p.fresh {
		return 0
	}
	return p.in.Messages
}

// serverCount is the server's message count now: SELECT's, updated by
// EXISTS and EXPUNGE received during the pass.
func (p *pass) serverCount() uint32 {
	if mb := p.c.client.Mailbox(); mb != nil && mb.Name == p.mailbox {
		return mb.NumMessages
	}
	return p.sel.NumMessages
}

// finish emits the final batch. When the count the caller holds disagrees
// with the server's, it adds Present from UID SEARCH ALL (RFC 3501 section
// 6.4.4) so that the caller can mark expunged messages.
func (p *pass) finish(ctx context.Context) (Cursor, error) {
	held := p.heldBefore() + p.delivered
	var present *imap.UIDSet
	if held != p.serverCount() {
		set, err := p.c.searchSet(ctx, &imap.SearchCriteria{})
		if err != nil {
			return Cursor{}, err
		}
		present = &set
		held = countUpTo(set, p.highest)
	}
	final := Cursor{UIDValidity: p.sel.UIDValidity, UIDNext: uint32(p.sel.UIDNext), HighestUID: p.highest,
		HighestModSeq: p.sel.HighestModSeq, Messages: held}
	b := Batch{Mailbox: p.mailbox, Reset: p.reset, UIDValidity: p.sel.UIDValidity, Present: present, Cursor: final, Final: true}
	if err := p.emit(b); err != nil {
		return Cursor{}, fmt.Errorf("emit final: %w", err)
	}
	p.last = final
	return final, nil
}

// countUpTo counts the UIDs in set that are <= limit.
func countUpTo(set imap.UIDSet, limit uint32) uint32 {
	var n uint64
	for _, r := range set {
		lo, hi := uint32(r.Start), uint32(r.Stop)
		if hi == 0 || hi > limit {
			hi = limit
		}
		if lo <= hi && lo != 0 {
			n += uint64(hi-lo) + 1
		}
	}
	return uint32(n)
}
