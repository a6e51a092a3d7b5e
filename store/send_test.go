package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/internal/testwait"
	"github.com/outreach/outreach/store"
	"github.com/outreach/outreach/store/storetest"
)

var sendDay = time.Date(2026, 11, 10, 10, 0, 0, 0, time.UTC)

// sendable is an approved follow-up whose thread waits for it, as the
// planner leaves it (draft_proposed).
func sendable(t *testing.T, st *store.Store, email string) (fixture, int64) {
	t.Helper()
	f := newThread(t, st, email)
	for _, s := range []string{"followup_due", "draft_proposed"} {
		if _, err := st.DB().Exec(`UPDATE threads SET state = $2 WHERE id = $1`, f.threadID, s); err != nil {
			t.Fatal(err)
		}
	}
	return f, f.approvedDraft(t, 1)
}

func accountOf(t *testing.T, st *store.Store, threadID int64) int64 {
	t.Helper()
	var id int64
	if err := st.DB().Get(&id, `SELECT account_id FROM threads WHERE id = $1`, threadID); err != nil {
		t.Fatal(err)
	}
	return id
}

func start(st *store.Store, acct, draft int64, msg string) ([]byte, error) {
	return st.StartSending(context.Background(), store.SendStart{DraftID: draft, AccountID: acct, Version: 1, Now: sendDay,
		DayStart: sendDay.Truncate(24 * time.Hour), DayEnd: sendDay.Truncate(24 * time.Hour).Add(24 * time.Hour), Cap: 10,
		Message: []byte(msg)})
}

func draftState(t *testing.T, st *store.Store, id int64) string {
	t.Helper()
	var s string
	if err := st.DB().Get(&s, `SELECT state FROM drafts WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	return s
}

// The happy path, then the outcomes: sent counts the thread's follow-up;
// a retry resends the stored message byte for byte; the message is frozen.
func TestStartSendingThenRecord(t *testing.T) {
	t.Parallel()
	st := storetest.New(t, nil)
	ctx := context.Background()
	f, id := sendable(t, st, "prof@example.edu")
	acct := accountOf(t, st, f.threadID)

	raw, err := start(st, acct, id, "first attempt")
	if err != nil || string(raw) != "first attempt" {
		t.Fatalf("start: %q, %v", raw, err)
	}
	retryAt := sendDay.Add(5 * time.Minute)
	if err := st.RecordRetry(ctx, store.SendFailure{DraftID: id, Now: sendDay, Reason: "451 4.3.0 later", Code: 451,
		RetryAt: retryAt}); err != nil {
		t.Fatal(err)
	}
	if c, err := st.SendCandidates(ctx, acct, sendDay); err != nil || len(c) != 0 {
		t.Fatalf("candidates before the retry is due: %+v, %v", c, err)
	}
	c, err := st.SendCandidates(ctx, acct, retryAt)
	if err != nil || len(c) != 1 || c[0].State != outreach.DraftRetry || c[0].Attempts != 1 {
		t.Fatalf("candidates when the retry is due: %+v, %v", c, err)
	}
	if raw, err = start(st, acct, id, "second attempt"); err != nil || string(raw) != "first attempt" {
		t.Fatalf("retry sends %q (%v), want the stored message", raw, err)
	}
	if _, err := st.DB().Exec(`UPDATE drafts SET raw_message = 'changed' WHERE id = $1`, id); store.Constraint(err) != "drafts_raw_message_frozen" {
		t.Fatalf("changing the stored message: %v", err)
	}
	if err := st.RecordSent(ctx, store.SendDone{DraftID: id, Now: sendDay, Reply: "250 2.0.0 queued", Copy: store.CopyPending}); err != nil {
		t.Fatal(err)
	}
	var th struct {
		State      string `db:"state"`
		FollowUps  int    `db:"followups_sent"`
		NextAction string `db:"next_action"`
	}
	if err := st.DB().Get(&th, `SELECT state, followups_sent, next_action FROM threads WHERE id = $1`, f.threadID); err != nil {
		t.Fatal(err)
	}
	if th.State != "followed_up" || th.FollowUps != 1 || th.NextAction != "decide" {
		t.Fatalf("thread after the send: %+v", th)
	}
	if err := st.RecordCopy(ctx, id, sendDay, "appended"); err != nil {
		t.Fatal(err)
	}
	if err := st.RecordCopy(ctx, id, sendDay, "appended"); err != nil {
		t.Fatalf("recording the copy twice: %v", err)
	}
	var events []string
	if err := st.DB().Select(&events, `SELECT type || ':' || coalesce(detail->>'smtp_reply', detail->>'reason', '')
		FROM events WHERE draft_id = $1 AND actor = 'mailer' ORDER BY id`, id); err != nil {
		t.Fatal(err)
	}
	want := "[draft_sending: draft_retry:451 4.3.0 later draft_sending: draft_sent:250 2.0.0 queued sent_copy:]"
	if fmt.Sprint(events) != want {
		t.Fatalf("events %v\nwant   %s", events, want)
	}
}

// StartSending refuses, changing nothing, every draft that must not go.
func TestStartSendingRefuses(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		prepare func(t *testing.T, st *store.Store, f fixture, id int64)
		version int
		cap     int
		is      error
	}{
		{"edited since it was read", nil, 2, 10, nil},
		{"thread replied", func(t *testing.T, st *store.Store, f fixture, _ int64) {
			exec(t, st, `UPDATE threads SET state = 'replied' WHERE id = $1`, f.threadID)
		}, 1, 10, nil},
		{"follow-up already counted", func(t *testing.T, st *store.Store, f fixture, _ int64) {
			exec(t, st, `UPDATE threads SET followups_sent = 1 WHERE id = $1`, f.threadID)
		}, 1, 10, nil},
		{"thread to be decided again", func(t *testing.T, st *store.Store, f fixture, _ int64) {
			if err := st.MarkThreadDue(context.Background(), f.threadID); err != nil {
				t.Fatal(err)
			}
		}, 1, 10, store.ErrStaleCheck},
		{"a message not yet threaded", func(t *testing.T, st *store.Store, f fixture, _ int64) {
			unthreaded(t, st, f.threadID)
		}, 1, 10, store.ErrStaleCheck},
		{"daily cap", func(t *testing.T, st *store.Store, f fixture, _ int64) {
			_, other := sendable(t, st, "other@example.edu")
			if _, err := start(st, accountOf(t, st, f.threadID), other, "other"); err != nil {
				t.Fatal(err)
			}
		}, 1, 1, store.ErrDailyCap},
		{"superseded", func(t *testing.T, st *store.Store, _ fixture, id int64) {
			exec(t, st, `UPDATE drafts SET state = 'superseded' WHERE id = $1`, id)
		}, 1, 10, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			st := storetest.New(t, nil)
			f, id := sendable(t, st, "prof@example.edu")
			if c.prepare != nil {
				c.prepare(t, st, f, id)
			}
			before := draftState(t, st, id)
			_, err := st.StartSending(context.Background(), store.SendStart{DraftID: id, AccountID: accountOf(t, st, f.threadID),
				Version: c.version, Now: sendDay, DayStart: sendDay.Add(-time.Hour), DayEnd: sendDay.Add(time.Hour),
				Cap: c.cap, Message: []byte("m")})
			if !outreach.IsKind(err, outreach.KindConflict) || (c.is != nil && !errors.Is(err, c.is)) {
				t.Fatalf("StartSending: %v, want a conflict (%v)", err, c.is)
			}
			if after := draftState(t, st, id); after != before {
				t.Fatalf("draft moved from %s to %s", before, after)
			}
		})
	}
}

func exec(t *testing.T, st *store.Store, q string, args ...any) {
	t.Helper()
	if _, err := st.DB().Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

// unthreaded stores a relevant message in the thread's account that no
// AttachPending has seen yet.
func unthreaded(t *testing.T, st *store.Store, threadID int64) {
	t.Helper()
	ctx := context.Background()
	inbox, err := st.EnsureMailbox(ctx, accountOf(t, st, threadID), "INBOX", "inbox")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SaveSyncBatch(ctx, store.SyncBatch{MailboxID: inbox.ID, Cursor: store.Cursor{UIDValidity: 1, HighestUID: 1},
		Messages: []outreach.Message{{UID: 1, MessageID: "reply@example.edu", From: "prof@example.edu",
			Subject: "Re: Research", Date: sendDay, Direction: outreach.Inbound, Raw: []byte("Subject: Re\r\n\r\nYes.\r\n")}}}); err != nil {
		t.Fatal(err)
	}
}

// Two senders race to start one draft, and two drafts of one account race
// for the last place under the daily cap: exactly one wins, every time.
func TestStartSendingUnderConcurrency(t *testing.T) {
	t.Parallel()
	st := storetest.New(t, nil)
	for round := range 10 {
		f, id := sendable(t, st, fmt.Sprintf("same%d@example.edu", round))
		acct := accountOf(t, st, f.threadID)
		errs := race(2, func(int) error { _, err := start(st, acct, id, "m"); return err })
		checkOneWins(t, round, "start one draft", errs)
	}
	st2 := storetest.New(t, nil)
	for round := range 10 {
		_, a := sendable(t, st2, fmt.Sprintf("a%d@example.edu", round))
		f, b := sendable(t, st2, fmt.Sprintf("b%d@example.edu", round))
		acct := accountOf(t, st2, f.threadID)
		ids := []int64{a, b}
		day := sendDay.AddDate(0, 0, round)
		errs := race(2, func(i int) error {
			_, err := st2.StartSending(context.Background(), store.SendStart{DraftID: ids[i], AccountID: acct, Version: 1,
				Now: day, DayStart: day.Add(-time.Hour), DayEnd: day.Add(time.Hour), Cap: 1, Message: []byte("m")})
			return err
		})
		loser := 1 - checkOneWins(t, round, "cap", errs)
		if !errors.Is(errs[loser], store.ErrDailyCap) {
			t.Fatalf("round %d: the loser got %v, want the daily cap", round, errs[loser])
		}
	}
}

// A lease is exclusive, and ends with its holder: released, or its
// connection gone (a killed sender).
func TestLeaseEndsWithItsHolder(t *testing.T) {
	t.Parallel()
	st := storetest.New(t, nil)
	ctx := context.Background()
	_, id := sendable(t, st, "prof@example.edu")
	l, ok, err := st.LeaseDraft(ctx, id)
	if err != nil || !ok {
		t.Fatalf("first lease: %v %v", ok, err)
	}
	if _, ok, err := st.LeaseDraft(ctx, id); err != nil || ok {
		t.Fatalf("second lease while held: %v %v", ok, err)
	}
	l.Release()
	l, ok, err = st.LeaseDraft(ctx, id)
	if err != nil || !ok {
		t.Fatalf("lease after release: %v %v", ok, err)
	}
	defer l.Release()
	if _, err := st.DB().Exec(`SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND classid = $2 AND objid = $1 AND granted
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, id, 0x6f757473); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 10*time.Second, "the lease free once its session is gone", func() bool {
		l2, ok, _ := st.LeaseDraft(ctx, id)
		if ok {
			l2.Release()
		}
		return ok
	})
}

func TestMessageIDSeenAndCandidates(t *testing.T) {
	t.Parallel()
	st := storetest.New(t, nil)
	ctx := context.Background()
	f, id := sendable(t, st, "prof@example.edu")
	acct := accountOf(t, st, f.threadID)
	exec(t, st, `UPDATE contacts SET timezone = 'America/Chicago', policy = '{"send_start": "09:30"}'`)
	c, err := st.SendCandidates(ctx, acct, sendDay)
	if err != nil || len(c) != 1 || c[0].DraftID != id || c[0].ContactTimezone != "America/Chicago" ||
		c[0].ContactPolicy.SendStart == nil || *c[0].ContactPolicy.SendStart != "09:30" {
		t.Fatalf("candidates %+v, %v", c, err)
	}
	unthreaded(t, st, f.threadID)
	for _, q := range []struct {
		roles []string
		want  bool
	}{{nil, true}, {[]string{"inbox"}, true}, {[]string{"sent"}, false}} {
		if seen, err := st.MessageIDSeen(ctx, acct, "reply@example.edu", q.roles...); err != nil || seen != q.want {
			t.Errorf("MessageIDSeen(%v) = %v, %v; want %v", q.roles, seen, err, q.want)
		}
	}
	exec(t, st, `UPDATE messages SET attached_at = $1`, sendDay)
	raw, err := start(st, acct, id, "m")
	if err != nil || !bytes.Equal(raw, []byte("m")) {
		t.Fatal(err)
	}
	u, err := st.UnresolvedSends(ctx, acct)
	if err != nil || len(u) != 1 || u[0].State != outreach.DraftSending || string(u[0].Raw) != "m" {
		t.Fatalf("unresolved %+v, %v", u, err)
	}
	if err := st.RecordReview(ctx, store.SendFailure{DraftID: id, Now: sendDay, Reason: "may have been sent"}); err != nil {
		t.Fatal(err)
	}
	if err := st.RecordRetry(ctx, store.SendFailure{DraftID: id, Now: sendDay, RetryAt: sendDay}); !outreach.IsKind(err, outreach.KindConflict) {
		t.Fatalf("a draft in review retried: %v", err)
	}
	fate, err := st.DraftFate(ctx, id)
	if err != nil || fate.State != outreach.DraftReview || fate.LastError != "may have been sent" {
		t.Fatalf("fate %+v, %v", fate, err)
	}
}
