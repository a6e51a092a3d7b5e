package imapsync

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestSyncInitial: 2,500 messages with BatchSize 1000 arrive as 3 batches
// and a final one, every UID once and in order, with parsed headers and the
// cursor progression of the API.
func TestSyncInitial(t *testing.T) {
	s := newMemServer(t, serverConfig{})
	s.appendMsgs(t, "INBOX", genMessages(1, 2500)...)
	var col collector
	final, err := s.dial(t).Sync(context.Background(), "INBOX", Cursor{}, SyncOptions{BatchSize: 1000}, col.emit)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if len(col.batches) != 4 {
		t.Fatalf("%d batches, want 3 + final", len(col.batches))
	}
	if got := col.uids(); !equalUIDs(got, seqUIDs(1, 2500)) {
		t.Fatalf("UIDs not 1..2500 once in order (got %d)", len(got))
	}
	validity := col.batches[0].Cursor.UIDValidity
	wantCursors := []Cursor{
		{UIDValidity: validity, HighestUID: 1000},
		{UIDValidity: validity, HighestUID: 2000},
		{UIDValidity: validity, HighestUID: 2500},
		{UIDValidity: validity, HighestUID: 2500, UIDNext: 2501, Messages: 2500},
	}
	for i, b := range col.batches {
		if b.Cursor != wantCursors[i] || b.Final != (i == 3) || b.Reset || b.Present != nil {
			t.Errorf("batch %d: cursor %+v final %v reset %v present %v; want cursor %+v",
				i, b.Cursor, b.Final, b.Reset, b.Present, wantCursors[i])
		}
	}
	if final != wantCursors[3] || validity == 0 {
		t.Errorf("returned cursor %+v, want %+v", final, wantCursors[3])
	}
	checkParsed(t, col.batches[1].Messages[6], 1007)
}

// checkParsed checks the header fields of genMessage(i).
func checkParsed(t *testing.T, m *Message, i int) {
	t.Helper()
	want := Message{UID: uint32(i), MessageID: "msg-" + itoa(i) + "@mail.example.edu",
		From: "prof." + itoa(i) + "@uni.example.edu", FromName: "Prof. Jürgen Müller",
		Subject: "Re: PhD position – größe " + itoa(i)}
	if m.UID != want.UID || m.MessageID != want.MessageID || m.From != want.From ||
		m.FromName != want.FromName || m.Subject != want.Subject || m.ParseError != "" {
		t.Errorf("parsed %+v\nwant %+v", m, want)
	}
	if strings.Join(m.References, " ") != "root-"+itoa(i)+"@outreach.example out-"+itoa(i)+"@outreach.example" ||
		strings.Join(m.InReplyTo, " ") != "out-"+itoa(i)+"@outreach.example" {
		t.Errorf("threading: In-Reply-To %v References %v", m.InReplyTo, m.References)
	}
	if strings.Join(m.To, ",") != "applicant@example.org" ||
		strings.Join(m.Cc, ",") != "lab-"+itoa(i)+"@uni.example.edu,second@example.edu" {
		t.Errorf("addresses: To %v Cc %v", m.To, m.Cc)
	}
	if m.Date.IsZero() || m.InternalDate.IsZero() || m.Size == 0 || m.Raw != nil {
		t.Errorf("date %v internal %v size %d raw %d bytes", m.Date, m.InternalDate, m.Size, len(m.Raw))
	}
	if strings.Contains(string(m.Header), "X-Filler") {
		t.Errorf("phase 1 fetched a field outside HeaderFields:\n%s", m.Header)
	}
}

// TestSyncIncremental: new messages only are fetched; a pass with no change
// emits a single empty final batch and issues no FETCH at all.
func TestSyncIncremental(t *testing.T) {
	s := newMemServer(t, serverConfig{})
	s.appendMsgs(t, "INBOX", genMessages(1, 20)...)
	c, p := s.dialProxied(t)
	ctx := context.Background()
	cur := syncAll(t, c, Cursor{}, 20)

	s.appendMsgs(t, "INBOX", genMessages(21, 5)...)
	var col collector
	cur, err := c.Sync(ctx, "INBOX", cur, SyncOptions{}, col.emit)
	if err != nil {
		t.Fatal(err)
	}
	if got := col.uids(); !equalUIDs(got, seqUIDs(21, 25)) {
		t.Fatalf("incremental fetched %v, want 21..25", got)
	}
	if f := col.final(t); f.Cursor.Messages != 25 || f.Cursor.UIDNext != 26 || f.Present != nil {
		t.Errorf("final batch %+v", f)
	}

	p.reset()
	col = collector{}
	after, err := c.Sync(ctx, "INBOX", cur, SyncOptions{}, col.emit)
	if err != nil {
		t.Fatal(err)
	}
	if len(col.batches) != 1 || !col.batches[0].Final || len(col.batches[0].Messages) != 0 || after != cur {
		t.Fatalf("no-change pass: %d batches %+v, cursor %+v want %+v", len(col.batches), col.batches, after, cur)
	}
	if cmds := p.commands(); strings.Contains(cmds, "FETCH") || strings.Contains(cmds, "SEARCH") {
		t.Errorf("no-change pass sent FETCH or SEARCH:\n%s", cmds)
	}
}

// syncAll runs a pass and checks how many messages it delivered.
func syncAll(t *testing.T, c *Conn, cur Cursor, want int) Cursor {
	t.Helper()
	var col collector
	out, err := c.Sync(context.Background(), "INBOX", cur, SyncOptions{}, col.emit)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if n := len(col.uids()); n != want {
		t.Fatalf("Sync delivered %d messages, want %d", n, want)
	}
	return out
}

// TestSyncUIDValidityChange: a re-created mailbox has a new UIDVALIDITY; the
// next pass is a rescan from UID 1 with Reset on every batch.
func TestSyncUIDValidityChange(t *testing.T) {
	s := newMemServer(t, serverConfig{})
	s.appendMsgs(t, "INBOX", genMessages(1, 12)...)
	c := s.dial(t)
	cur := syncAll(t, c, Cursor{}, 12)

	if err := s.user.Delete("INBOX"); err != nil {
		t.Fatal(err)
	}
	if err := s.user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	s.appendMsgs(t, "INBOX", genMessages(1, 7)...)
	var col collector
	after, err := c.Sync(context.Background(), "INBOX", cur, SyncOptions{BatchSize: 5}, col.emit)
	if err != nil {
		t.Fatal(err)
	}
	if got := col.uids(); !equalUIDs(got, seqUIDs(1, 7)) {
		t.Fatalf("rescan delivered %v, want 1..7", got)
	}
	for i, b := range col.batches {
		if !b.Reset {
			t.Errorf("batch %d has Reset=false", i)
		}
		if !b.Final && b.Cursor.UIDValidity != cur.UIDValidity {
			t.Errorf("intermediate batch %d moved UIDVALIDITY before the rescan completed", i)
		}
	}
	if after.UIDValidity == cur.UIDValidity || after.Messages != 7 || after.HighestUID != 7 {
		t.Errorf("cursor after rescan %+v (before %+v)", after, cur)
	}
}

// TestSyncExpunge: after 3 messages are expunged, the final batch lists the
// UIDs present so that the caller marks the others expunged.
func TestSyncExpunge(t *testing.T) {
	s := newMemServer(t, serverConfig{})
	s.appendMsgs(t, "INBOX", genMessages(1, 10)...)
	c := s.dial(t)
	cur := syncAll(t, c, Cursor{}, 10)
	expunge(t, s, imap.UIDSetNum(2, 5, 9))

	var col collector
	after, err := c.Sync(context.Background(), "INBOX", cur, SyncOptions{}, col.emit)
	if err != nil {
		t.Fatal(err)
	}
	f := col.final(t)
	if len(col.uids()) != 0 {
		t.Errorf("expunge pass delivered %v", col.uids())
	}
	if f.Present == nil || f.Present.String() != "1,3:4,6:8,10" {
		t.Fatalf("Present = %v, want 1,3:4,6:8,10", f.Present)
	}
	if after.Messages != 7 || after.HighestUID != 10 {
		t.Errorf("cursor after expunge %+v", after)
	}
}

// expunge deletes uids from INBOX through a second IMAP client.
func expunge(t *testing.T, s *memServer, uids imap.UIDSet) {
	t.Helper()
	cl, err := imapclient.DialInsecure(s.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	steps := []func() error{
		func() error { return cl.Login(testUser, testPass).Wait() },
		func() error { _, err := cl.Select("INBOX", nil).Wait(); return err },
		func() error {
			return cl.Store(uids, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
		},
		func() error { return cl.Expunge().Close() },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("expunge: %v", err)
		}
	}
}

// TestSyncEmitError stops the pass and returns the caller's error.
func TestSyncEmitError(t *testing.T) {
	s := newMemServer(t, serverConfig{})
	s.appendMsgs(t, "INBOX", genMessages(1, 30)...)
	c := s.dial(t)
	stop := context.Canceled
	calls := 0
	cur, err := c.Sync(context.Background(), "INBOX", Cursor{}, SyncOptions{BatchSize: 10}, func(b Batch) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "emit") || calls != 2 || cur.HighestUID != 10 {
		t.Fatalf("Sync = %+v, %v after %d emits", cur, err, calls)
	}
	// The connection stays usable after a caller error.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Sync(ctx, "INBOX", cur, SyncOptions{BatchSize: 10}, func(Batch) error { return nil }); err != nil {
		t.Fatalf("Sync after an emit error: %v", err)
	}
}

// itoa formats an int.
func itoa(i int) string { return strconv.Itoa(i) }
