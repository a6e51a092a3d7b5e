package daemon

import (
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/imapsync"
	"github.com/outreach/outreach/internal/dovecot"
	"github.com/outreach/outreach/internal/testwait"
	"github.com/outreach/outreach/store"
	"github.com/outreach/outreach/store/storetest"
)

// A batch that the database refuses stops the pass: the fetch side, which
// is ahead, stores nothing after it; the mailbox is degraded with the
// reason; the cursor accounts for exactly the batches before it; and the
// next pass completes with no gap and no duplicate.
func TestDovecotFailedWriteStopsThePipeline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := dovecot.ForTest(t)
	st := storetest.New(t, nil)
	acct := newAccount(t, st, srv.Host, srv.Port)
	const n = 2000
	if err := srv.Deliver("INBOX", replies(n, "w")...); err != nil {
		t.Fatal(err)
	}
	exec(t, st, `CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'injected failure at UID %', NEW.uid; END $$`,
		`CREATE TRIGGER test_refuse BEFORE INSERT ON messages FOR EACH ROW WHEN (NEW.uid = 801)
		EXECUTE FUNCTION test_refuse()`)
	s := &Syncer{Store: st, BatchSize: 400}

	_, err := s.SyncOnce(ctx, acct)
	if err == nil || !strings.Contains(err.Error(), "injected failure at UID 801") {
		t.Fatalf("pass ended with %v, want the injected failure", err)
	}
	if got := rowCount(t, st, "true"); got != 800 {
		t.Fatalf("%d rows after the failed batch, want the 800 of the two batches before it", got)
	}
	inbox := mailboxRow(t, st, "INBOX")
	if inbox.State != "degraded" || !strings.Contains(inbox.LastError, "injected failure") ||
		inbox.Cursor.HighestUID != 800 || inbox.Cursor.Messages != 800 {
		t.Fatalf("INBOX after the failure: %+v", inbox)
	}

	exec(t, st, `DROP TRIGGER test_refuse ON messages`)
	if _, err := s.SyncOnce(ctx, acct); err != nil {
		t.Fatal(err)
	}
	checkStoredOnce(t, st, n)
}

// The IMAP connection drops while a batch is being stored (held inside its
// INSERT by an advisory lock the test owns). The pass waits for that batch,
// whose messages and cursor commit together, and reports the failure; the
// next pass completes with no gap and no duplicate.
func TestDovecotConnectionDropsWhileABatchIsStored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := dovecot.ForTest(t)
	st := storetest.New(t, nil)
	relay := startRelay(t, srv.Host+":"+strconv.Itoa(srv.Port))
	acct := newAccount(t, st, "127.0.0.1", relay.port)
	const n = 3000
	if err := srv.Deliver("INBOX", replies(n, "d")...); err != nil {
		t.Fatal(err)
	}
	exec(t, st, `CREATE FUNCTION test_hold() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN PERFORM pg_advisory_xact_lock_shared(4242); RETURN NEW; END $$`,
		`CREATE TRIGGER test_hold BEFORE INSERT ON messages FOR EACH ROW WHEN (NEW.uid = 401)
		EXECUTE FUNCTION test_hold()`)
	lock, err := st.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(ctx, `SELECT pg_advisory_lock(4242)`); err != nil {
		t.Fatal(err)
	}
	s := &Syncer{Store: st, BatchSize: 400}
	done := make(chan error, 1)
	go func() {
		_, err := s.SyncOnce(ctx, acct)
		done <- err
	}()

	// The FETCHes sent ahead may still be streaming: the drop can come in
	// the middle of a literal (which go-imap beta.8 mishandles without
	// imapsync's guard; -race would tell).
	testwait.Until(t, 20*time.Second, "the second batch to wait inside its INSERT", func() bool {
		var waiting int
		err := st.DB().Get(&waiting, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`)
		return err == nil && waiting == 1
	})
	relay.drop()
	if _, err := lock.ExecContext(ctx, `SELECT pg_advisory_unlock(4242)`); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Fatal("the pass succeeded although its connection dropped")
	}
	stored := rowCount(t, st, "true")
	inbox := mailboxRow(t, st, "INBOX")
	if stored < 800 || stored >= n || inbox.Cursor.Messages != uint32(stored) || inbox.Cursor.HighestUID != uint32(stored) {
		t.Fatalf("%d rows stored, cursor %+v: want the batch in flight committed with its cursor, and no gap", stored, inbox.Cursor)
	}
	if inbox.State != "degraded" {
		t.Fatalf("INBOX %s after the failure, want degraded", inbox.State)
	}

	if _, err := s.SyncOnce(ctx, acct); err != nil {
		t.Fatal(err)
	}
	checkStoredOnce(t, st, n)
}

// relay is a TCP relay in front of the server, so that a test can drop the
// connections as a server going away does.
type relay struct {
	port int

	mu   sync.Mutex
	open []*net.TCPConn // client sides
}

func startRelay(t *testing.T, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	r := &relay{port: ln.Addr().(*net.TCPAddr).Port}
	go func() {
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				down.Close()
				continue
			}
			r.mu.Lock()
			r.open = append(r.open, down.(*net.TCPConn))
			r.mu.Unlock()
			go func() { io.Copy(up, down); up.Close() }()
			go func() { io.Copy(down, up); down.(*net.TCPConn).CloseWrite() }()
		}
	}()
	return r
}

// drop ends every connection relayed so far as a server going away does:
// the client reads EOF.
func (r *relay) drop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.open {
		c.CloseWrite()
	}
	r.open = nil
}

// Relevance counts the Message-IDs of the batch still being stored as held:
// judged one after the other, the reply's batch would have found them
// committed.
func TestRelevanceCountsTheBatchInFlight(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t, nil)
	s := &Syncer{Store: st}
	w := newBatchWriter()
	reply := imapsync.MessageFromHeader([]byte("From: someone@example.net\r\nTo: applicant@example.org\r\n" +
		"In-Reply-To: <earlier@example.net>\r\n\r\n"))
	empty := imapsync.MessageFromHeader([]byte("From: other@example.net\r\n\r\n"))
	empty.References = []string{""} // names nothing, even while a message without Message-ID is held
	relevant := func() []bool {
		t.Helper()
		got, err := s.relevance(w)(ctx, []*imapsync.Message{reply, empty})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := relevant(); got[0] || got[1] {
		t.Fatalf("relevant %v with nothing held, want neither", got)
	}
	release := make(chan struct{})
	if err := w.submit(1, batchMessageIDs([]outreach.Message{{MessageID: "earlier@example.net", Raw: []byte("x")}, {}}),
		func() error { <-release; return nil }); err != nil {
		t.Fatal(err)
	}
	got := relevant()
	close(release)
	if err := w.wait(); err != nil {
		t.Fatal(err)
	}
	if !got[0] || got[1] {
		t.Fatalf("relevant %v while the batch holding earlier@ is stored, want the reply only", got)
	}
	if got := relevant(); got[0] {
		t.Fatal("the batch stored is still counted as in flight")
	}
}

// A pass over mailboxes whose STATUS matches their cursor selects none of
// them and records the pass (state ok, last pass now) without touching the
// cursor; a flag change (HIGHESTMODSEQ, RFC 7162) makes INBOX synced again.
func TestDovecotUnchangedMailboxesArePassedWithoutSync(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := dovecot.ForTest(t)
	var now atomic.Pointer[time.Time]
	clock := func() time.Time { return *now.Load() }
	start := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	now.Store(&start)
	st := storetest.New(t, clock)
	acct := newAccount(t, st, srv.Host, srv.Port)
	if err := srv.Deliver("INBOX", replies(30, "u")...); err != nil {
		t.Fatal(err)
	}
	s := &Syncer{Store: st}
	if _, err := s.SyncOnce(ctx, acct); err != nil {
		t.Fatal(err)
	}
	before := mailboxRow(t, st, "INBOX")
	if err := st.MarkMailboxError(ctx, before.ID, "an old failure"); err != nil {
		t.Fatal(err)
	}

	later := start.Add(time.Hour)
	now.Store(&later)
	sum, err := s.SyncOnce(ctx, acct)
	if err != nil || sum.Stored != 0 || len(sum.Mailboxes) != 2 {
		t.Fatalf("no-change pass: %+v, %v", sum, err)
	}
	for _, name := range []string{"INBOX", "Sent"} {
		mb := mailboxRow(t, st, name)
		if mb.State != "ok" || mb.LastError != "" || mb.LastPassAt == nil || !mb.LastPassAt.Equal(later) {
			t.Fatalf("%s after the no-change pass: %+v, want ok and passed at %v", name, mb, later)
		}
	}
	if after := mailboxRow(t, st, "INBOX"); after.Cursor != before.Cursor {
		t.Fatalf("cursor moved in a pass that changed nothing: %+v -> %+v", before.Cursor, after.Cursor)
	}

	flagFirst(t, srv)
	if _, err := s.SyncOnce(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if after := mailboxRow(t, st, "INBOX"); after.Cursor.HighestModSeq <= before.Cursor.HighestModSeq {
		t.Fatalf("HIGHESTMODSEQ %d after a flag change, want more than %d: INBOX was not synced",
			after.Cursor.HighestModSeq, before.Cursor.HighestModSeq)
	}
}

// flagFirst sets \Flagged on INBOX's first message with a client of its own.
func flagFirst(t *testing.T, srv *dovecot.Server) {
	t.Helper()
	c, err := imapclient.DialInsecure(srv.Host+":"+strconv.Itoa(srv.Port), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(dovecot.User, dovecot.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	flags := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}
	if err := c.Store(imap.UIDSetNum(1), flags, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
}

// exec runs statements on the test database.
func exec(t *testing.T, st *store.Store, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if _, err := st.DB().Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// mailboxRow returns the stored row of the mailbox named name.
func mailboxRow(t *testing.T, st *store.Store, name string) store.Mailbox {
	t.Helper()
	mbs, err := st.Mailboxes(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, mb := range mbs {
		if mb.Name == name {
			return mb
		}
	}
	t.Fatalf("no mailbox %s", name)
	return store.Mailbox{}
}

// checkStoredOnce checks that INBOX holds n rows, one per Message-ID, and a
// cursor that accounts for them.
func checkStoredOnce(t *testing.T, st *store.Store, n int) {
	t.Helper()
	var distinct int
	if err := st.DB().Get(&distinct, `SELECT count(DISTINCT message_id) FROM messages`); err != nil {
		t.Fatal(err)
	}
	if got := rowCount(t, st, "true"); got != n || distinct != n {
		t.Fatalf("%d rows, %d distinct Message-IDs; want %d of each", got, distinct, n)
	}
	if inbox := mailboxRow(t, st, "INBOX"); inbox.State != "ok" || inbox.Cursor.Messages != uint32(n) ||
		inbox.Cursor.HighestUID != uint32(n) {
		t.Fatalf("INBOX after the resumed pass: %+v", inbox)
	}
}
