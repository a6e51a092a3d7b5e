package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/store"
	"github.com/outreach/outreach/store/storetest"
)

func syncMsgs(from, to uint32, idPrefix string) []outreach.Message {
	var out []outreach.Message
	for uid := from; uid <= to; uid++ {
		out = append(out, outreach.Message{UID: uid, MessageID: fmt.Sprintf("%s%d@example.edu", idPrefix, uid),
			From: "prof@example.edu", To: []string{"me@example.org"}, Subject: "Re: research",
			Date: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Size: 1000, Header: []byte("Subject: Re: research\r\n\r\n")})
	}
	return out
}

func newMailbox(t *testing.T, st *store.Store) store.Mailbox {
	t.Helper()
	ctx := context.Background()
	acct, err := st.EnsureAccount(ctx, outreach.Account{Name: "main", Email: "me@example.org", Timezone: "UTC"})
	if err != nil {
		t.Fatal(err)
	}
	mb, err := st.EnsureMailbox(ctx, acct, "INBOX", "inbox")
	if err != nil {
		t.Fatal(err)
	}
	return mb
}

func countRows(t *testing.T, st *store.Store, mailbox int64, where string) int {
	t.Helper()
	var n int
	if err := st.DB().Get(&n, `SELECT count(*) FROM messages WHERE mailbox_id = $1 AND `+where, mailbox); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSyncBatchesStoreMessagesAndCursorTogether(t *testing.T) {
	t.Parallel()
	st := storetest.New(t, nil)
	ctx := context.Background()
	mb := newMailbox(t, st)
	first := store.SyncBatch{MailboxID: mb.ID, Messages: syncMsgs(1, 10, "m"),
		Cursor: store.Cursor{UIDValidity: 7, HighestUID: 10}}
	res, err := st.SaveSyncBatch(ctx, first)
	if err != nil || res.Inserted != 10 {
		t.Fatalf("first batch: %+v %v", res, err)
	}
	// The same batch again (a resumed pass that re-fetched it) adds nothing.
	if res, err := st.SaveSyncBatch(ctx, first); err != nil || res.Inserted != 0 {
		t.Fatalf("same batch again: %+v %v", res, err)
	}
	mbs, _ := st.Mailboxes(ctx, mb.AccountID)
	if c := mbs[0].Cursor; c.HighestUID != 10 || c.UIDNext != 0 || c.Messages != 10 || mbs[0].State != "new" {
		t.Fatalf("after an intermediate batch: %+v state %s; want highest 10, no UIDNEXT yet, 10 held, still new", c, mbs[0].State)
	}
	final := store.SyncBatch{MailboxID: mb.ID, Messages: syncMsgs(11, 12, "m"), Final: true,
		Cursor: store.Cursor{UIDValidity: 7, HighestUID: 12, UIDNext: 13, HighestModSeq: 99}}
	if _, err := st.SaveSyncBatch(ctx, final); err != nil {
		t.Fatal(err)
	}
	mbs, _ = st.Mailboxes(ctx, mb.AccountID)
	want := store.Cursor{UIDValidity: 7, UIDNext: 13, HighestUID: 12, HighestModSeq: 99, Messages: 12}
	if mbs[0].Cursor != want || mbs[0].State != "ok" || mbs[0].LastPassAt == nil {
		t.Fatalf("after the final batch: %+v, want %+v and state ok", mbs[0], want)
	}
}

func TestSyncExpungeAndUIDValidityReset(t *testing.T) {
	t.Parallel()
	st := storetest.New(t, nil)
	ctx := context.Background()
	mb := newMailbox(t, st)
	if _, err := st.SaveSyncBatch(ctx, store.SyncBatch{MailboxID: mb.ID, Messages: syncMsgs(1, 6, "m"), Final: true,
		Cursor: store.Cursor{UIDValidity: 7, HighestUID: 6, UIDNext: 7}}); err != nil {
		t.Fatal(err)
	}
	// The server lost UIDs 2 and 5.
	res, err := st.SaveSyncBatch(ctx, store.SyncBatch{MailboxID: mb.ID, Final: true, Present: [][2]uint32{{1, 1}, {3, 4}, {6, 6}},
		Cursor: store.Cursor{UIDValidity: 7, HighestUID: 6, UIDNext: 7}})
	if err != nil || res.Expunged != 2 {
		t.Fatalf("expunge: %+v %v", res, err)
	}
	if n := countRows(t, st, mb.ID, "expunged_at IS NOT NULL AND uid IN (2, 5)"); n != 2 {
		t.Fatalf("%d of UIDs 2 and 5 marked expunged, want 2", n)
	}
	// UIDVALIDITY changes; the server renumbered the four messages left and has one new one.
	rescan := append(syncMsgs(1, 1, "m"), syncMsgs(3, 4, "m")...)
	rescan = append(rescan, syncMsgs(6, 6, "m")...)
	for i := range rescan {
		rescan[i].UID = uint32(100 + i)
	}
	rescan = append(rescan, syncMsgs(200, 200, "new")...)
	res, err = st.SaveSyncBatch(ctx, store.SyncBatch{MailboxID: mb.ID, Reset: true, Final: true, Messages: rescan,
		Cursor: store.Cursor{UIDValidity: 8, HighestUID: 200, UIDNext: 201}})
	if err != nil {
		t.Fatal(err)
	}
	if total := countRows(t, st, mb.ID, "true"); total != 7 {
		t.Fatalf("%d rows after the rescan, want 7 (6 old, 1 new: nothing duplicated)", total)
	}
	if n := countRows(t, st, mb.ID, "uidvalidity = 8 AND expunged_at IS NULL"); n != 5 {
		t.Fatalf("%d live rows under the new UIDVALIDITY, want 5", n)
	}
	if n := countRows(t, st, mb.ID, "expunged_at IS NOT NULL"); n != 2 {
		t.Fatalf("%d expunged rows, want the 2 from before", n)
	}
	mbs, _ := st.Mailboxes(ctx, mb.AccountID)
	if mbs[0].Cursor.Messages != 5 || mbs[0].Cursor.UIDValidity != 8 {
		t.Fatalf("cursor after rescan %+v", mbs[0].Cursor)
	}
}

func TestSyncKeepsUnparsableMessages(t *testing.T) {
	t.Parallel()
	st := storetest.New(t, nil)
	mb := newMailbox(t, st)
	bad := outreach.Message{UID: 1, Header: []byte("Subject: \xff\xfe broken\r\nFrom: <<<\r\n"), ParseError: "mail: missing @ in addr-spec",
		Subject: "\xff\xfe broken \x00 nul", From: "<<<"}
	if _, err := st.SaveSyncBatch(context.Background(), store.SyncBatch{MailboxID: mb.ID, Messages: []outreach.Message{bad},
		Cursor: store.Cursor{UIDValidity: 1, HighestUID: 1}}); err != nil {
		t.Fatal(err)
	}
	var header []byte
	var perr string
	if err := st.DB().QueryRow(`SELECT raw_headers, parse_error FROM messages WHERE mailbox_id = $1`, mb.ID).Scan(&header, &perr); err != nil {
		t.Fatal(err)
	}
	if string(header) != string(bad.Header) || perr != bad.ParseError {
		t.Fatalf("stored %q / %q", header, perr)
	}
}

// A rescan in several batches: intermediate cursors keep the old
// UIDVALIDITY (a crash restarts the rescan), while the rows move to the
// server's new one as each batch is stored. Storing a batch again after a
// crash duplicates nothing.
func TestSyncRescanAcrossBatches(t *testing.T) {
	t.Parallel()
	st := storetest.New(t, nil)
	ctx := context.Background()
	mb := newMailbox(t, st)
	if _, err := st.SaveSyncBatch(ctx, store.SyncBatch{MailboxID: mb.ID, Messages: syncMsgs(1, 4, "m"), Final: true,
		Cursor: store.Cursor{UIDValidity: 7, HighestUID: 4, UIDNext: 5}}); err != nil {
		t.Fatal(err)
	}
	renumbered := syncMsgs(1, 4, "m")
	for i := range renumbered {
		renumbered[i].UID += 10
	}
	first := store.SyncBatch{MailboxID: mb.ID, Reset: true, UIDValidity: 8, Messages: renumbered[:2],
		Cursor: store.Cursor{UIDValidity: 7, HighestUID: 12}}
	for range 2 { // the second time stands for a crash and a restarted rescan
		if _, err := st.SaveSyncBatch(ctx, first); err != nil {
			t.Fatal(err)
		}
	}
	if n := countRows(t, st, mb.ID, "uidvalidity = 8 AND uid IN (11, 12)"); n != 2 {
		t.Fatalf("%d rows moved by the first batch, want 2", n)
	}
	if _, err := st.SaveSyncBatch(ctx, store.SyncBatch{MailboxID: mb.ID, Reset: true, UIDValidity: 8, Final: true,
		Messages: renumbered[2:], Cursor: store.Cursor{UIDValidity: 8, HighestUID: 14, UIDNext: 15}}); err != nil {
		t.Fatal(err)
	}
	if total, moved := countRows(t, st, mb.ID, "true"), countRows(t, st, mb.ID, "uidvalidity = 8 AND expunged_at IS NULL"); total != 4 || moved != 4 {
		t.Fatalf("%d rows, %d under the new UIDVALIDITY; want 4 and 4", total, moved)
	}
}

// A rescan matches messages whose Message-ID (or, lacking one, subject) is
// not valid UTF-8 or holds a NUL: stored cleaned, matched cleaned, moved
// rather than duplicated, and the batch is not refused.
func TestSyncRescanMatchesUncleanKeys(t *testing.T) {
	t.Parallel()
	st := storetest.New(t, nil)
	ctx := context.Background()
	mb := newMailbox(t, st)
	odd := func(uid uint32) []outreach.Message {
		date := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		return []outreach.Message{
			{UID: uid, MessageID: "bad\xff\x00id@example.edu", From: "prof@example.edu", Date: date},
			{UID: uid + 1, Subject: "Re: \xfe\x00 no id", From: "prof@example.edu", Date: date, Size: 42},
		}
	}
	if _, err := st.SaveSyncBatch(ctx, store.SyncBatch{MailboxID: mb.ID, Messages: odd(1), Final: true,
		Cursor: store.Cursor{UIDValidity: 7, HighestUID: 2, UIDNext: 3}}); err != nil {
		t.Fatal(err)
	}
	res, err := st.SaveSyncBatch(ctx, store.SyncBatch{MailboxID: mb.ID, Reset: true, UIDValidity: 8, Final: true,
		Messages: odd(11), Cursor: store.Cursor{UIDValidity: 8, HighestUID: 12, UIDNext: 13}})
	if err != nil {
		t.Fatal(err)
	}
	if total, moved := countRows(t, st, mb.ID, "true"), countRows(t, st, mb.ID, "uidvalidity = 8 AND uid IN (11, 12)"); total != 2 || moved != 2 || res.Inserted != 2 {
		t.Fatalf("%d rows, %d moved to the new UIDVALIDITY, %d reported; want 2, 2, 2", total, moved, res.Inserted)
	}
}

// A mailbox can fail before its first pass: it is degraded with the reason.
func TestMarkMailboxErrorBeforeFirstPass(t *testing.T) {
	t.Parallel()
	st := storetest.New(t, nil)
	ctx := context.Background()
	mb := newMailbox(t, st)
	if err := st.MarkMailboxError(ctx, mb.ID, "SELECT INBOX: NO [SERVERBUG]"); err != nil {
		t.Fatal(err)
	}
	mbs, err := st.Mailboxes(ctx, mb.AccountID)
	if err != nil || mbs[0].State != "degraded" || mbs[0].LastError != "SELECT INBOX: NO [SERVERBUG]" {
		t.Fatalf("mailbox after the error: %+v %v", mbs, err)
	}
}
