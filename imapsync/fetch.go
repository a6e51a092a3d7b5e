package imapsync

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// maxRefetch is how many times a UID that came back without the requested
// data is fetched again before it is delivered with a ParseError.
const maxRefetch = 2

// rawMsg is one message's FETCH data (RFC 3501 section 7.4.2), merged from
// the command's own responses and from unsolicited ones.
type rawMsg struct {
	uid      uint32
	seq      uint32
	flags    []imap.Flag
	date     time.Time
	size     int64
	bs       imap.BodyStructure
	sections map[string][]byte // by sectionKey
}

// sectionKey names a body section independently of partial ranges and
// header-field lists: "HEADER.FIELDS", "HEADER", "TEXT", "1.2.MIME", "2".
func sectionKey(part []int, spec imap.PartSpecifier, fields bool) string {
	nums := make([]string, 0, len(part)+1)
	for _, n := range part {
		nums = append(nums, strconv.Itoa(n))
	}
	if spec != imap.PartSpecifierNone {
		s := string(spec)
		if fields {
			s += ".FIELDS"
		}
		nums = append(nums, s)
	}
	return strings.Join(nums, ".")
}

// maxLiteralPrealloc bounds the buffer allocated ahead for a literal.
const maxLiteralPrealloc = 1 << 20

// readMessage reads one FETCH response's items into a rawMsg, reading each
// literal to its end. It replaces the library's Collect, which on a failed
// literal read lets go-imap beta.8 read that literal again (on the next
// Next or Close) while its own reader goroutine goes on with the shared
// buffer. After an error here the caller must leave msg and its command
// alone: the reader fails the command and closes the connection
// (guardConn makes the connection's end an error, never the literal's end).
func readMessage(msg *imapclient.FetchMessageData) (*rawMsg, error) {
	m := &rawMsg{seq: msg.SeqNum}
	for item := msg.Next(); item != nil; item = msg.Next() {
		switch it := item.(type) {
		case imapclient.FetchItemDataUID:
			m.uid = uint32(it.UID)
		case imapclient.FetchItemDataFlags:
			m.flags = it.Flags
		case imapclient.FetchItemDataInternalDate:
			m.date = it.Time
		case imapclient.FetchItemDataRFC822Size:
			m.size = it.Size
		case imapclient.FetchItemDataBodyStructure:
			m.bs = it.BodyStructure
		case imapclient.FetchItemDataBodySection:
			var b []byte
			if it.Literal != nil {
				// One allocation of the announced size (bounded: a server
				// can announce anything), with room to read the EOF.
				var buf bytes.Buffer
				buf.Grow(int(min(it.Literal.Size(), maxLiteralPrealloc)) + bytes.MinRead)
				if _, err := buf.ReadFrom(it.Literal); err != nil {
					return nil, fmt.Errorf("reading BODY[%s] of message %d: %w",
						sectionKey(it.Section.Part, it.Section.Specifier, false), msg.SeqNum, err)
				}
				b = buf.Bytes()
			}
			if m.sections == nil {
				m.sections = make(map[string][]byte, 2)
			}
			m.sections[sectionKey(it.Section.Part, it.Section.Specifier, len(it.Section.HeaderFields) > 0)] = b
		}
	}
	return m, nil
}

// merge fills m's missing fields from o (same UID, other response).
func (m *rawMsg) merge(o *rawMsg) {
	if m.seq == 0 {
		m.seq = o.seq
	}
	if m.flags == nil {
		m.flags = o.flags
	}
	if m.date.IsZero() {
		m.date = o.date
	}
	if m.size == 0 {
		m.size = o.size
	}
	if m.bs == nil {
		m.bs = o.bs
	}
	for k, v := range o.sections {
		if _, ok := m.sections[k]; !ok {
			if m.sections == nil {
				m.sections = make(map[string][]byte)
			}
			m.sections[k] = v
		}
	}
}

// strays collects FETCH responses that go-imap beta.8 did not route to the
// command that asked for them. Microsoft 365 sends the UID after the header
// literal, so the library cannot match the response to a UID FETCH and hands
// it to the unilateral handler (RFC 3501 section 7.4.2 does not order FETCH
// items). The handler runs in a goroutine started by the reader; it only
// touches this mutex-protected map.
type strays struct {
	mu      sync.Mutex
	idle    *sync.Cond
	pending int
	byUID   map[uint32]*rawMsg
}

// newStrays returns an empty collector.
func newStrays() *strays {
	s := &strays{byUID: make(map[uint32]*rawMsg)}
	s.idle = sync.NewCond(&s.mu)
	return s
}

// collect is the UnilateralDataHandler.Fetch callback. pending is raised
// before the first item is read, so before the reader can move past the
// message's literal and complete the command it belongs to.
func (s *strays) collect(msg *imapclient.FetchMessageData) {
	s.mu.Lock()
	s.pending++
	s.mu.Unlock()
	m, err := readMessage(msg)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil && m.uid != 0 && (len(m.sections) > 0 || m.bs != nil) {
		if old := s.byUID[m.uid]; old != nil {
			m.merge(old)
		}
		s.byUID[m.uid] = m
	}
	s.pending--
	s.idle.Broadcast()
}

// settle waits until no stray is half-read, or until deadline.
func (s *strays) settle(deadline time.Time) {
	stop := time.AfterFunc(time.Until(deadline), func() {
		s.mu.Lock()
		s.idle.Broadcast()
		s.mu.Unlock()
	})
	defer stop.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.pending > 0 && time.Now().Before(deadline) {
		s.idle.Wait()
	}
}

// take removes and returns the strays whose UID is in set.
func (s *strays) take(set imap.UIDSet) []*rawMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*rawMsg
	for uid, m := range s.byUID {
		if set.Contains(imap.UID(uid)) {
			out = append(out, m)
			delete(s.byUID, uid)
		}
	}
	return out
}

// reset forgets every stray (called at the start of a pass).
func (s *strays) reset() {
	s.mu.Lock()
	s.byUID = make(map[uint32]*rawMsg)
	s.mu.Unlock()
}

// fetchCmd is one UID FETCH in flight. Its responses are drained by its own
// goroutine, so several FETCHes can be pipelined (RFC 9051 section 5.5)
// without the library's reader ever waiting on us.
type fetchCmd struct {
	set  imap.UIDSet
	done chan struct{}
	msgs []*rawMsg
	err  error
}

// startFetch sends UID FETCH set opts and starts draining its responses.
func (c *Conn) startFetch(set imap.UIDSet, opts *imap.FetchOptions) *fetchCmd {
	fc := &fetchCmd{set: set, done: make(chan struct{})}
	if err := c.brokenErr(); err != nil {
		fc.err = fmt.Errorf("connection unusable: %w", err)
		close(fc.done)
		return fc
	}
	cmd := c.client.Fetch(set, opts)
	go fc.drain(cmd)
	return fc
}

// drain reads every response of cmd into fc.msgs.
func (fc *fetchCmd) drain(cmd *imapclient.FetchCommand) {
	defer close(fc.done)
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		m, err := readMessage(msg)
		if err != nil {
			fc.err = err // and leave cmd alone: see readMessage
			return
		}
		fc.msgs = append(fc.msgs, m)
	}
	if err := cmd.Close(); err != nil && fc.err == nil {
		fc.err = err
	}
}

// settle waits for a FETCH the caller no longer needs, one sent ahead when
// the pass stopped on an error, so that the connection stays usable for
// the next mailbox.
func (c *Conn) settle(ctx context.Context, fc *fetchCmd) { _ = c.await(ctx, fc) }

// await waits for fc within the command timeout, measured from now (a
// pipelined FETCH may have been sent long before, while the caller's
// Relevant or emit ran). A server that does not answer in time, or ctx
// ending, tears the connection down (safe in the middle of a literal too:
// see readMessage).
func (c *Conn) await(ctx context.Context, fc *fetchCmd) error {
	t := time.NewTimer(c.cmdTimeout)
	defer t.Stop()
	select {
	case <-fc.done:
		return ctx.Err()
	case <-ctx.Done():
		c.abort(fmt.Errorf("UID FETCH %s interrupted", fc.set))
		<-fc.done
		return ctx.Err()
	case <-t.C:
	}
	c.abort(fmt.Errorf("UID FETCH %s timed out", fc.set))
	<-fc.done
	return fmt.Errorf("no answer within %s: %w", c.cmdTimeout, context.DeadlineExceeded)
}

// waitFetch waits for fc and returns its messages merged with the strays in
// its UID set, keyed by UID (a response without UID is unusable and dropped
// here; the caller notices the UID as missing).
func (c *Conn) waitFetch(ctx context.Context, fc *fetchCmd) (map[uint32]*rawMsg, int, error) {
	if err := c.await(ctx, fc); err != nil {
		return nil, 0, fmt.Errorf("UID FETCH %s: %w", fc.set, err)
	}
	if fc.err != nil {
		return nil, 0, fmt.Errorf("UID FETCH %s: %w", fc.set, fc.err)
	}
	c.strays.settle(time.Now().Add(c.cmdTimeout))
	got := make(map[uint32]*rawMsg, len(fc.msgs))
	for _, m := range fc.msgs {
		addRaw(got, m)
	}
	extra := c.strays.take(fc.set)
	for _, m := range extra {
		addRaw(got, m)
	}
	return got, len(extra), nil
}

// addRaw adds m to got, merging with an earlier response for the same UID.
func addRaw(got map[uint32]*rawMsg, m *rawMsg) {
	if m.uid == 0 {
		return
	}
	if old := got[m.uid]; old != nil {
		old.merge(m)
		return
	}
	got[m.uid] = m
}

// fetchRequest describes what a pass needs from each message.
type fetchRequest struct {
	opts     *imap.FetchOptions
	complete func(*rawMsg) bool // has everything asked for
	inRange  func(uint32) bool  // the UIDs this request is about
	// known lists the UIDs asked for when each was seen in phase 1 (a
	// sparse set, whose sequence numbers are never contiguous); nil for a
	// range, where which UIDs exist is not known.
	known []uint32
}

// finishFetch waits for fc and repairs the result. For a range, when strays
// arrived or sequence numbers have gaps, it asks the server which UIDs
// exist (UID SEARCH, RFC 3501 section 6.4.4); for a request of known UIDs
// those are the UIDs. Missing or incomplete ones are fetched again by UID,
// up to maxRefetch times. It never drops a UID the server listed or the
// request knew: what stays incomplete is returned as is.
func (c *Conn) finishFetch(ctx context.Context, fc *fetchCmd, req fetchRequest) ([]*rawMsg, error) {
	got, nstrays, err := c.waitFetch(ctx, fc)
	if err != nil {
		return nil, err
	}
	filterRange(got, req.inRange)
	want := req.known
	if want == nil && (nstrays > 0 || hasSeqGap(got)) {
		if want, err = c.searchUIDs(ctx, fc.set); err != nil {
			return nil, err
		}
	}
	for try := 0; try < maxRefetch; try++ {
		missing := incomplete(got, want, req)
		if len(missing) == 0 {
			break
		}
		more, _, err := c.waitFetch(ctx, c.startFetch(imap.UIDSetNum(missing...), req.opts))
		if err != nil {
			return nil, err
		}
		for _, m := range more {
			addRaw(got, m)
		}
	}
	for _, uid := range want {
		if got[uid] == nil && req.inRange(uid) {
			got[uid] = &rawMsg{uid: uid}
		}
	}
	return sortedRaw(got), nil
}

// filterRange drops responses outside the request ("n:*" always returns the
// last message, RFC 3501 section 6.4.8, even when its UID is below n).
func filterRange(got map[uint32]*rawMsg, inRange func(uint32) bool) {
	for uid := range got {
		if !inRange(uid) {
			delete(got, uid)
		}
	}
}

// hasSeqGap reports whether the sequence numbers received are not
// contiguous, a sign that a response went astray.
func hasSeqGap(got map[uint32]*rawMsg) bool {
	if len(got) == 0 {
		return false
	}
	lo, hi := ^uint32(0), uint32(0)
	for _, m := range got {
		if m.seq == 0 {
			return true
		}
		lo, hi = min(lo, m.seq), max(hi, m.seq)
	}
	return int(hi-lo)+1 != len(got)
}

// incomplete lists the UIDs in want (or already seen) that lack data.
func incomplete(got map[uint32]*rawMsg, want []uint32, req fetchRequest) []imap.UID {
	var out []imap.UID
	for uid, m := range got {
		if !req.complete(m) {
			out = append(out, imap.UID(uid))
		}
	}
	for _, uid := range want {
		if got[uid] == nil && req.inRange(uid) {
			out = append(out, imap.UID(uid))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// sortedRaw returns got's messages in UID order.
func sortedRaw(got map[uint32]*rawMsg) []*rawMsg {
	out := make([]*rawMsg, 0, len(got))
	for _, m := range got {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].uid < out[j].uid })
	return out
}

// searchUIDs runs UID SEARCH UID set and returns the UIDs in order. With
// ESEARCH (RFC 4731) the answer is a compact set.
func (c *Conn) searchUIDs(ctx context.Context, set imap.UIDSet) ([]uint32, error) {
	all, err := c.searchSet(ctx, &imap.SearchCriteria{UID: []imap.UIDSet{set}})
	if err != nil {
		return nil, err
	}
	uids, _ := all.Nums()
	out := make([]uint32, len(uids))
	for i, u := range uids {
		out[i] = uint32(u)
	}
	return out, nil
}

// searchSet runs UID SEARCH criteria and returns the matching UID set.
func (c *Conn) searchSet(ctx context.Context, crit *imap.SearchCriteria) (imap.UIDSet, error) {
	var opts *imap.SearchOptions
	if c.caps.Has(imap.CapESearch) {
		opts = &imap.SearchOptions{ReturnAll: true}
	}
	var data *imap.SearchData
	err := c.run(ctx, "UID SEARCH", func() error {
		var err error
		data, err = c.client.UIDSearch(crit, opts).Wait()
		return err
	})
	if err != nil {
		return nil, err
	}
	set, _ := data.All.(imap.UIDSet)
	return set, nil
}
