package store_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/internal/testwait"
	"github.com/outreach/outreach/store"
	"github.com/outreach/outreach/store/storetest"
)

// fixture is a thread with a contact, ready for drafts.
type fixture struct {
	st       *store.Store
	threadID int64
}

func newThread(t *testing.T, st *store.Store, email string) fixture {
	t.Helper()
	ctx := context.Background()
	acct, err := st.EnsureAccount(ctx, outreach.Account{Name: "main", Email: "applicant@example.org", Timezone: "UTC"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.ImportContacts(ctx, store.ImportRequest{Columns: []string{"email"},
		Rows: []outreach.ContactRow{{Line: 2, Contact: outreach.Contact{Email: email, Addresses: []string{email}}}}}); err != nil {
		t.Fatal(err)
	}
	c, err := st.ContactByAddress(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	id, err := st.CreateThread(ctx, store.NewThread{AccountID: acct, ContactID: c.ID, Subject: "Research",
		RootMessageID: "root-" + email, InitialSentAt: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{st: st, threadID: id}
}

func (f fixture) approvedDraft(t *testing.T, n int) int64 {
	t.Helper()
	ctx := context.Background()
	id, err := f.st.ProposeDraft(ctx, store.NewDraft{ThreadID: f.threadID, To: "prof@example.edu",
		Subject: "Re: Research", Body: "Following up.", MessageID: fmt.Sprintf("d%d-%d@outreach.test", f.threadID, n)})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.ApproveDraft(ctx, id, 1); err != nil {
		t.Fatal(err)
	}
	return id
}

func (f fixture) draft(t *testing.T, n int) store.NewDraft {
	return store.NewDraft{ThreadID: f.threadID, To: "prof@example.edu", Subject: "Re: Research",
		Body: "Following up.", MessageID: fmt.Sprintf("d%d-%d@outreach.test", f.threadID, n)}
}

// Two planners race to propose a follow-up for one thread, and two mailers
// race to send the one approved follow-up: the database lets exactly one
// of each through, every time.
func TestOneFollowUpPerThreadUnderConcurrency(t *testing.T) {
	t.Parallel()
	st := storetest.New(t, nil)
	ctx := context.Background()
	for round := 0; round < 30; round++ {
		f := newThread(t, st, fmt.Sprintf("prof%d@example.edu", round))
		ids := make([]int64, 2)
		errs := race(2, func(i int) (err error) {
			ids[i], err = st.ProposeDraft(ctx, f.draft(t, i))
			return err
		})
		winner := checkOneWins(t, round, "propose", errs)
		if err := st.ApproveDraft(ctx, ids[winner], 1); err != nil {
			t.Fatal(err)
		}
		errs = race(2, func(int) error {
			if err := st.BeginSending(ctx, ids[winner]); err != nil {
				return err
			}
			return st.MarkSent(ctx, ids[winner], "250 2.0.0 queued")
		})
		checkOneWins(t, round, "send", errs)
		var live int
		if err := st.DB().Get(&live, `SELECT count(*) FROM drafts WHERE thread_id = $1`, f.threadID); err != nil || live != 1 {
			t.Fatalf("round %d: %d drafts (err %v), want 1", round, live, err)
		}
		if state, err := st.ThreadState(ctx, f.threadID); err != nil || state != outreach.ThreadFollowedUp {
			t.Fatalf("round %d: thread state %q (err %v), want followed_up", round, state, err)
		}
		if _, err := st.ProposeDraft(ctx, f.draft(t, 3)); !outreach.IsKind(err, outreach.KindConflict) {
			t.Fatalf("round %d: a follow-up proposed after one was sent: %v", round, err)
		}
	}
}

// race runs n functions released at the same instant and returns their errors.
func race(n int, fn func(i int) error) []error {
	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// checkOneWins wants exactly one success and conflicts for the rest, and
// returns the index of the winner.
func checkOneWins(t *testing.T, round int, what string, errs []error) int {
	t.Helper()
	winner, conflicts := -1, 0
	for i, err := range errs {
		switch {
		case err == nil:
			winner = i
		case outreach.IsKind(err, outreach.KindConflict):
			conflicts++
		default:
			t.Fatalf("round %d %s: unexpected error %v", round, what, err)
		}
	}
	if winner < 0 || conflicts != len(errs)-1 {
		t.Fatalf("round %d %s: errors %v, want exactly one success", round, what, errs)
	}
	return winner
}

// The same race at the SQL level with a fixed interleaving: the second
// transaction waits on the first; the first commits and the second is refused;
// when the first one's process dies instead (its backend is terminated, as
// when a daemon is killed mid-transaction), the second goes through.
func TestFollowUpIndexWaitsForTheOtherTransaction(t *testing.T) {
	t.Parallel()
	for _, firstCommits := range []bool{true, false} {
		t.Run(fmt.Sprintf("first_commits=%v", firstCommits), func(t *testing.T) {
			t.Parallel()
			st := storetest.New(t, nil)
			f := newThread(t, st, "race@example.edu")
			const propose = `INSERT INTO drafts (thread_id, state, to_addr, subject, body, message_id, created_at, updated_at)
				VALUES ($1, 'proposed', 'race@example.edu', 'Re: Research', 'Following up.', $2, now(), now())`
			tx1 := st.DB().MustBegin()
			defer tx1.Rollback()
			var pid1 int
			if err := tx1.Get(&pid1, `SELECT pg_backend_pid()`); err != nil {
				t.Fatal(err)
			}
			if _, err := tx1.Exec(propose, f.threadID, "first@outreach.test"); err != nil {
				t.Fatal(err)
			}
			var pid int
			done := make(chan error, 1)
			tx2 := st.DB().MustBegin()
			defer tx2.Rollback()
			if err := tx2.Get(&pid, `SELECT pg_backend_pid()`); err != nil {
				t.Fatal(err)
			}
			go func() {
				_, err := tx2.Exec(propose, f.threadID, "second@outreach.test")
				done <- err
			}()
			testwait.Until(t, 10*time.Second, "the second transaction waiting for the first one's lock", func() bool {
				var waiting bool
				_ = st.DB().Get(&waiting, `SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1`, pid)
				return waiting
			})
			if firstCommits {
				if err := tx1.Commit(); err != nil {
					t.Fatal(err)
				}
				err := <-done
				if store.Constraint(err) != "drafts_one_live_followup" {
					t.Fatalf("second transaction: got %v, want a violation of drafts_one_live_followup", err)
				}
				return
			}
			if _, err := st.DB().Exec(`SELECT pg_terminate_backend($1)`, pid1); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("second transaction after the first rolled back: %v", err)
			}
			if err := tx2.Commit(); err != nil {
				t.Fatal(err)
			}
			var ids []string
			if err := st.DB().Select(&ids, `SELECT message_id FROM drafts WHERE thread_id = $1`, f.threadID); err != nil {
				t.Fatal(err)
			}
			if want := []string{"second@outreach.test"}; !slices.Equal(ids, want) {
				t.Fatalf("after the crash: drafts %v, want %v", ids, want)
			}
		})
	}
}

func TestDraftApprovalIsBoundToItsVersion(t *testing.T) {
	t.Parallel()
	st := storetest.New(t, nil)
	ctx := context.Background()
	f := newThread(t, st, "version@example.edu")
	id, err := st.ProposeDraft(ctx, store.NewDraft{ThreadID: f.threadID, To: "version@example.edu",
		Subject: "Re: Research", Body: "v1", MessageID: "v1@outreach.test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().Exec(`UPDATE drafts SET body = 'v2', version = 2 WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if err := st.ApproveDraft(ctx, id, 1); !outreach.IsKind(err, outreach.KindConflict) {
		t.Fatalf("approving version 1 of a draft at version 2: got %v, want a conflict", err)
	}
	if err := st.ApproveDraft(ctx, id, 2); err != nil {
		t.Fatalf("approving the current version: %v", err)
	}
}

func TestDatabaseRefusesIllegalStatesAndEdits(t *testing.T) {
	t.Parallel()
	st := storetest.New(t, nil)
	f := newThread(t, st, "rules@example.edu")
	draft := f.approvedDraft(t, 1)
	cases := []struct {
		name, sql, constraint string
		arg                   int64
	}{
		{"waiting thread skips the due state", `UPDATE threads SET state = 'draft_proposed' WHERE id = $1`, "threads_legal_transition", f.threadID},
		{"approved draft jumps to sent", `UPDATE drafts SET state = 'sent', sending_at = now(), sent_at = now() WHERE id = $1`, "drafts_legal_transition", draft},
		{"sent count goes past one", `UPDATE threads SET followups_sent = 2 WHERE id = $1`, "threads_followups_sent_check", f.threadID},
		{"a pause end on a thread that is not paused", `UPDATE threads SET paused_until = now() WHERE id = $1`, "threads_paused_until", f.threadID},
		{"edit bumps version but keeps approval", `UPDATE drafts SET version = 2 WHERE id = $1`, "drafts_approved_this_version", draft},
		{"second draft reuses a Message-ID", `INSERT INTO drafts (thread_id, state, to_addr, subject, body, message_id, created_at, updated_at)
			SELECT thread_id, 'proposed', to_addr, subject, body, message_id, now(), now() FROM drafts WHERE id = $1`, "drafts_message_id_unique", draft},
		{"second live follow-up", `INSERT INTO drafts (thread_id, state, to_addr, subject, body, message_id, created_at, updated_at)
			SELECT thread_id, 'proposed', to_addr, subject, body, 'other-' || message_id, now(), now() FROM drafts WHERE id = $1`, "drafts_one_live_followup", draft},
		{"events are append-only", `UPDATE events SET rule = 'x' WHERE thread_id = $1`, "events_append_only", f.threadID},
		{"events cannot be deleted", `DELETE FROM events WHERE thread_id = $1`, "events_append_only", f.threadID},
	}
	for _, c := range cases {
		_, err := st.DB().Exec(c.sql, c.arg)
		if err == nil {
			t.Errorf("%s: the database accepted it", c.name)
			continue
		}
		if got := store.Constraint(err); got != c.constraint {
			t.Errorf("%s: refused by %q (%v), want %q", c.name, got, err, c.constraint)
		}
	}
}
