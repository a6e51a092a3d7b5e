package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/store"
	"github.com/outreach/outreach/store/storetest"
)

// testClock is the store's clock in planner tests: it reads what the test set.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// world is one applicant, one account, contacts, and a planner, with the
// clock under the test's control. Mail goes through the real path: stored
// as a sync pass stores it, attached to threads, then planned.
type world struct {
	t            *testing.T
	st           *store.Store
	clock        *testClock
	inbox, sent  int64
	uid          uint32
	planner      *Planner
	composeFails error
}

// monday is the day the applicant writes their first emails.
var monday = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func day(n int, hour int) time.Time {
	return monday.Add(time.Duration(n)*24*time.Hour + time.Duration(hour-9)*time.Hour)
}

func newWorld(t *testing.T, contacts ...string) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{t: t, clock: &testClock{now: monday}}
	w.st = storetest.New(t, w.clock.Now)
	acct, err := w.st.EnsureAccount(ctx, outreach.Account{Name: "main", Email: applicant, DisplayName: "Amaka Obi", Timezone: "UTC"})
	if err != nil {
		t.Fatal(err)
	}
	in, _ := w.st.EnsureMailbox(ctx, acct, "INBOX", "inbox")
	sent, _ := w.st.EnsureMailbox(ctx, acct, "Sent", "sent")
	w.inbox, w.sent = in.ID, sent.ID
	var rows []outreach.ContactRow
	for i, c := range contacts {
		rows = append(rows, outreach.ContactRow{Line: i + 2, Contact: outreach.Contact{Email: c, Addresses: []string{c}, LastName: "Chen", Title: "Dr."}})
	}
	if _, err := w.st.ImportContacts(ctx, store.ImportRequest{Columns: []string{"email"}, Rows: rows}); err != nil {
		t.Fatal(err)
	}
	w.planner = &Planner{Store: w.st, Policy: outreach.DefaultPolicy(), Compose: w.compose,
		Log: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))}
	return w
}

func (w *world) compose(in store.PlanInput) (store.NewDraft, error) {
	if w.composeFails != nil {
		return store.NewDraft{}, w.composeFails
	}
	return store.NewDraft{To: conversationAddress(in), Subject: "Re: " + in.Thread.Subject,
		Body: "Dear Dr. " + in.Contact.LastName + ", a short follow-up.", InReplyTo: in.Thread.RootMessageID,
		Template: "test"}, nil
}

// store saves one message as a sync pass would (with a skeleton, so that it
// is threaded) and attaches it.
func (w *world) store(mailbox int64, m outreach.Message) {
	w.t.Helper()
	w.uid++
	m.UID, m.Raw = w.uid, []byte("Subject: "+m.Subject+"\r\n\r\nHello.\r\n")
	if _, err := w.st.SaveSyncBatch(context.Background(), store.SyncBatch{MailboxID: mailbox,
		Messages: []outreach.Message{m}, Cursor: store.Cursor{UIDValidity: 1, HighestUID: w.uid}}); err != nil {
		w.t.Fatal(err)
	}
	if _, err := AttachPending(context.Background(), w.st); err != nil {
		w.t.Fatal(err)
	}
}

// send is the applicant's email, seen in Sent.
func (w *world) send(at time.Time, to, msgID, subject string, inReplyTo ...string) {
	w.clock.Set(at)
	w.store(w.sent, outreach.Message{MessageID: msgID, From: applicant, To: []string{to}, Subject: subject,
		Date: at, Direction: outreach.Outbound, InReplyTo: inReplyTo})
}

// receive is mail from the contact's side, classified as detail says.
func (w *world) receive(at time.Time, from, msgID string, kind outreach.MessageKind, detail string, inReplyTo ...string) {
	w.clock.Set(at)
	w.store(w.inbox, outreach.Message{MessageID: msgID, From: from, To: []string{applicant}, Subject: "Re: Research opportunity",
		Date: at, Direction: outreach.Inbound, InReplyTo: inReplyTo, Kind: kind, Classification: []byte(detail)})
}

func (w *world) tick(at time.Time) TickSummary {
	w.t.Helper()
	w.clock.Set(at)
	sum, err := w.planner.Tick(context.Background(), at)
	if err != nil {
		w.t.Fatalf("tick at %v: %v", at, err)
	}
	return sum
}

func (w *world) thread(contact string) store.ThreadListing {
	w.t.Helper()
	threads, err := w.st.Threads(context.Background(), store.ThreadFilter{})
	if err != nil {
		w.t.Fatal(err)
	}
	for _, th := range threads {
		if th.Contact == contact {
			return th
		}
	}
	w.t.Fatalf("no thread with %s", contact)
	return store.ThreadListing{}
}

func (w *world) wantState(contact string, want outreach.ThreadState) store.ThreadListing {
	w.t.Helper()
	th := w.thread(contact)
	if th.State != want {
		w.t.Fatalf("thread with %s is %s (%s: %s), want %s", contact, th.State, th.DecisionRule, th.DecisionEvidence, want)
	}
	return th
}

func (w *world) draftStates(threadID int64) []string {
	w.t.Helper()
	var states []string
	if err := w.st.DB().Select(&states, `SELECT state FROM drafts WHERE thread_id = $1 ORDER BY id`, threadID); err != nil {
		w.t.Fatal(err)
	}
	return states
}

func (w *world) events(threadID int64, typ string) int {
	w.t.Helper()
	var n int
	if err := w.st.DB().Get(&n, `SELECT count(*) FROM events WHERE thread_id = $1 AND type = $2`, threadID, typ); err != nil {
		w.t.Fatal(err)
	}
	return n
}

// The main road: silence, one draft at the due time (in the send window),
// never a second; approval and sending close the loop; silence after the
// follow-up closes the thread.
func TestPlannerOneFollowUpThenClose(t *testing.T) {
	t.Parallel()
	w := newWorld(t, professor)
	w.send(monday, professor, "orig@example.org", "Research opportunity")
	w.tick(day(3, 10))
	th := w.wantState(professor, outreach.ThreadAwaitingReply)
	if th.NextAction != "propose_followup" || th.NextActionAt == nil || !th.NextActionAt.Equal(day(7, 9)) {
		t.Fatalf("next action %q at %v, want propose_followup at %v", th.NextAction, th.NextActionAt, day(7, 9))
	}
	// Saturday 2026-11-07 is outside the window: nothing is due yet.
	if sum := w.tick(day(5, 12)); sum.Planned != 0 {
		t.Fatalf("planned %d threads before the due time", sum.Planned)
	}
	sum := w.tick(day(7, 10))
	if sum.Proposed != 1 {
		t.Fatalf("tick at the due time: %+v, want one draft", sum)
	}
	th = w.wantState(professor, outreach.ThreadDraftProposed)
	if th.NextAction != "expire_draft" {
		t.Fatalf("after proposing: next action %q, want expire_draft", th.NextAction)
	}
	for _, at := range []time.Time{day(7, 10), day(8, 11), day(9, 9)} {
		if err := w.st.MarkThreadDue(context.Background(), th.ID); err != nil {
			t.Fatal(err)
		}
		w.tick(at)
	}
	if got := w.draftStates(th.ID); !slices.Equal(got, []string{"proposed"}) {
		t.Fatalf("drafts %v after more ticks, want one proposed", got)
	}
	var draftID int64
	var msgID string
	if err := w.st.DB().QueryRow(`SELECT id, message_id FROM drafts WHERE thread_id = $1`, th.ID).Scan(&draftID, &msgID); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	w.clock.Set(day(9, 10))
	if err := w.st.ApproveDraft(ctx, draftID, 1); err != nil {
		t.Fatal(err)
	}
	if err := w.st.BeginSending(ctx, draftID); err != nil {
		t.Fatal(err)
	}
	if err := w.st.MarkSent(ctx, draftID, "250 OK"); err != nil {
		t.Fatal(err)
	}
	w.send(day(9, 10), professor, msgID, "Re: Research opportunity", "orig@example.org") // the copy in Sent
	w.tick(day(9, 11))
	th = w.wantState(professor, outreach.ThreadFollowedUp)
	if th.FollowUpsSent != 1 || th.NextAction != "close_no_response" {
		t.Fatalf("followed up: %+v", th.ThreadRow)
	}
	w.tick(day(30, 10))
	th = w.wantState(professor, outreach.ThreadClosedNoResponse)
	if th.NextAction != "" || th.ClosedReason != "no_response" {
		t.Fatalf("closed thread: next action %q, reason %q", th.NextAction, th.ClosedReason)
	}
	var steps []string
	if err := w.st.DB().Select(&steps, `SELECT type || ':' || from_state || '>' || to_state FROM events
		WHERE thread_id = $1 AND to_state <> '' AND from_state <> '' AND type IN ('state_changed', 'followup_sent') ORDER BY id`, th.ID); err != nil {
		t.Fatal(err)
	}
	want := []string{"state_changed:awaiting_reply>followup_due", "state_changed:followup_due>draft_proposed",
		"followup_sent:draft_proposed>followed_up", "state_changed:followed_up>closed_no_response"}
	if !slices.Equal(steps, want) {
		t.Errorf("recorded changes %v, want %v", steps, want)
	}
}

// A reply, from any address of the contact's side, cancels the proposed
// draft and ends the thread as replied; nothing is proposed again.
func TestPlannerReplyCancelsDraft(t *testing.T) {
	t.Parallel()
	w := newWorld(t, professor)
	w.send(monday, professor, "orig@example.org", "Research opportunity")
	w.tick(day(7, 10))
	th := w.wantState(professor, outreach.ThreadDraftProposed)
	// The coordinator answers for the professor, in the thread.
	w.receive(day(8, 9), "office@med.example.edu", "coord@med.example.edu", outreach.MessageHuman,
		`{"kind":"human","confidence":"certain"}`, "orig@example.org")
	sum := w.tick(day(8, 9))
	if sum.Superseded != 1 {
		t.Fatalf("tick after the reply: %+v, want the draft superseded", sum)
	}
	w.wantState(professor, outreach.ThreadReplied)
	if got := w.draftStates(th.ID); !slices.Equal(got, []string{"superseded"}) {
		t.Fatalf("drafts %v, want superseded", got)
	}
	w.tick(day(60, 10))
	w.wantState(professor, outreach.ThreadReplied)
	if n := len(w.draftStates(th.ID)); n != 1 {
		t.Fatalf("%d drafts after replied, want 1", n)
	}
}

// A follow-up the applicant sent by hand counts as the follow-up and
// cancels the proposed draft.
func TestPlannerManualFollowUpCancelsDraft(t *testing.T) {
	t.Parallel()
	w := newWorld(t, professor)
	w.send(monday, professor, "orig@example.org", "Research opportunity")
	w.tick(day(7, 10))
	th := w.wantState(professor, outreach.ThreadDraftProposed)
	w.send(day(8, 14), professor, "byhand@example.org", "Re: Research opportunity", "orig@example.org")
	w.tick(day(8, 14))
	th = w.wantState(professor, outreach.ThreadFollowedUp)
	if got := w.draftStates(th.ID); !slices.Equal(got, []string{"superseded"}) {
		t.Fatalf("drafts %v, want superseded", got)
	}
	// A third email by hand: the applicant is warned once.
	w.send(day(12, 14), professor, "again@example.org", "Re: Research opportunity", "orig@example.org")
	w.tick(day(12, 14))
	w.tick(day(13, 14))
	if n := w.events(th.ID, "warning"); n != 1 {
		t.Fatalf("%d over-contact warnings, want 1", n)
	}
}

// An out-of-office with a return date pauses the thread; the follow-up
// comes after the return plus resume_after_return_days working days.
func TestPlannerOutOfOfficePauses(t *testing.T) {
	t.Parallel()
	w := newWorld(t, professor)
	w.send(monday, professor, "orig@example.org", "Research opportunity")
	w.receive(day(0, 10), professor, "ooo@med.example.edu", outreach.MessageAutoReply,
		`{"kind":"auto_reply","reason":"vacation","return_date":"2026-11-23","confidence":"certain"}`, "orig@example.org")
	w.tick(day(0, 10))
	th := w.wantState(professor, outreach.ThreadPaused)
	if th.PausedUntil == nil || th.PausedUntil.Before(day(21, 0)) {
		t.Fatalf("paused until %v, want after the return date", th.PausedUntil)
	}
	if sum := w.tick(day(14, 10)); sum.Proposed != 0 {
		t.Fatal("a draft was proposed while paused")
	}
	w.tick(day(28, 10))
	w.wantState(professor, outreach.ThreadDraftProposed)
}

// A permanent bounce ends the thread and marks the address undeliverable.
func TestPlannerBounceMarksAddress(t *testing.T) {
	t.Parallel()
	w := newWorld(t, professor)
	w.send(monday, professor, "orig@example.org", "Research opportunity")
	w.receive(day(0, 9), "mailer-daemon@med.example.edu", "dsn@med.example.edu", outreach.MessageBounce,
		`{"kind":"bounce","reason":"user_unknown","permanent":true,"failed_recipients":["`+professor+`"],"confidence":"certain","refers_to":["orig@example.org"]}`,
		"orig@example.org")
	w.tick(day(0, 10))
	w.wantState(professor, outreach.ThreadBounced)
	var state string
	if err := w.st.DB().Get(&state, `SELECT state FROM contact_addresses WHERE address = $1`, professor); err != nil || state != "undeliverable" {
		t.Fatalf("address state %q (%v), want undeliverable", state, err)
	}
	w.tick(day(20, 10))
	w.wantState(professor, outreach.ThreadBounced)
}

// A draft nobody approves expires, and the thread closes with that reason.
func TestPlannerDraftExpires(t *testing.T) {
	t.Parallel()
	w := newWorld(t, professor)
	w.send(monday, professor, "orig@example.org", "Research opportunity")
	w.tick(day(7, 10))
	th := w.wantState(professor, outreach.ThreadDraftProposed)
	w.tick(day(20, 10))
	th = w.wantState(professor, outreach.ThreadClosedNoResponse)
	if th.ClosedReason != "draft_expired" {
		t.Fatalf("closed for %q, want draft_expired", th.ClosedReason)
	}
	if got := w.draftStates(th.ID); !slices.Equal(got, []string{"expired"}) {
		t.Fatalf("drafts %v, want expired", got)
	}
}

// A template mistake is recorded once, and the planner tries again later.
func TestPlannerDraftErrorIsRecordedAndRetried(t *testing.T) {
	t.Parallel()
	w := newWorld(t, professor)
	w.composeFails = errors.New(`template followup: variable .Contact.Title is empty`)
	w.send(monday, professor, "orig@example.org", "Research opportunity")
	w.tick(day(7, 10))
	th := w.wantState(professor, outreach.ThreadFollowUpDue)
	if th.DecisionRule != "draft_not_written" || th.NextActionAt == nil || !th.NextActionAt.After(day(7, 10)) {
		t.Fatalf("after a failed draft: rule %q, next %v", th.DecisionRule, th.NextActionAt)
	}
	w.tick(day(7, 12))
	if n := w.events(th.ID, "draft_not_written"); n != 1 {
		t.Fatalf("%d draft_failed events, want 1", n)
	}
	w.composeFails = nil
	w.tick(day(7, 14))
	w.wantState(professor, outreach.ThreadDraftProposed)
}

// The applicant's own commands: pause, resume, close, reopen.
func TestPlannerUserActions(t *testing.T) {
	t.Parallel()
	w := newWorld(t, professor)
	ctx := context.Background()
	w.send(monday, professor, "orig@example.org", "Research opportunity")
	w.tick(day(1, 10))
	th := w.thread(professor)
	act := func(at time.Time, a store.UserAction, until *time.Time, want outreach.ThreadState) {
		t.Helper()
		w.clock.Set(at)
		if err := w.st.RecordUserAction(ctx, th.ID, a, until, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := w.planner.PlanThread(ctx, th.ID, at); err != nil {
			t.Fatal(err)
		}
		w.wantState(professor, want)
	}
	until := day(20, 0)
	act(day(2, 10), store.ActionPause, &until, outreach.ThreadPaused)
	act(day(3, 10), store.ActionResume, nil, outreach.ThreadAwaitingReply)
	act(day(4, 10), store.ActionClose, nil, outreach.ThreadClosedByUser)
	if sum := w.tick(day(30, 10)); sum.Proposed != 0 {
		t.Fatal("a draft was proposed for a thread the applicant closed")
	}
	act(day(31, 10), store.ActionReopen, nil, outreach.ThreadNeedsReview)
	act(day(31, 11), store.ActionResume, nil, outreach.ThreadDraftProposed)
}

// After downtime the planner catches up through legal steps: an
// out-of-office pause, a follow-up by hand during it, then silence long
// enough to close; each step is recorded.
func TestPlannerCatchesUpAfterDowntime(t *testing.T) {
	t.Parallel()
	w := newWorld(t, professor)
	w.send(monday, professor, "orig@example.org", "Research opportunity")
	w.receive(day(0, 10), professor, "ooo@med.example.edu", outreach.MessageAutoReply,
		`{"kind":"auto_reply","reason":"vacation","return_date":"2026-11-23","confidence":"certain"}`, "orig@example.org")
	w.tick(day(0, 11))
	w.wantState(professor, outreach.ThreadPaused)
	w.send(day(3, 10), professor, "byhand@example.org", "Re: Research opportunity", "orig@example.org")
	w.tick(day(90, 10)) // the daemon was off for three months
	th := w.wantState(professor, outreach.ThreadClosedNoResponse)
	var steps []string
	if err := w.st.DB().Select(&steps, `SELECT from_state || '>' || to_state FROM events
		WHERE thread_id = $1 AND type = 'state_changed' ORDER BY id`, th.ID); err != nil {
		t.Fatal(err)
	}
	if want := []string{"awaiting_reply>paused", "paused>followed_up", "followed_up>closed_no_response"}; !slices.Equal(steps, want) {
		t.Fatalf("steps %v, want %v", steps, want)
	}
}

// A second thread with someone whose earlier thread closed without
// response gets no follow-up before the cooldown ends.
func TestPlannerCooldown(t *testing.T) {
	t.Parallel()
	w := newWorld(t, professor)
	ctx := context.Background()
	w.send(monday, professor, "orig@example.org", "Research opportunity")
	w.tick(day(7, 10))
	w.tick(day(20, 10)) // the draft expired: closed without response
	w.wantState(professor, outreach.ThreadClosedNoResponse)
	w.send(day(30, 10), professor, "second@example.org", "Observership question")
	w.tick(day(45, 10))
	threads, err := w.st.Threads(ctx, store.ThreadFilter{State: outreach.ThreadAwaitingReply})
	if err != nil || len(threads) != 1 {
		t.Fatalf("threads awaiting reply: %v %v, want the new one", threads, err)
	}
	if at := threads[0].NextActionAt; at == nil || at.Before(day(20, 10).AddDate(0, 0, 180)) {
		t.Fatalf("second thread's follow-up at %v, want after the 180-day cooldown", at)
	}
}

// Several planners at once: each due thread is planned by one of them and
// gets exactly one draft and one record of each change.
func TestPlannersInParallel(t *testing.T) {
	t.Parallel()
	var contacts []string
	for i := range 40 {
		contacts = append(contacts, fmt.Sprintf("prof%d@med.example.edu", i))
	}
	w := newWorld(t, contacts...)
	for i, c := range contacts {
		w.send(monday, c, fmt.Sprintf("orig%d@example.org", i), "Research opportunity")
	}
	now := day(7, 10)
	w.clock.Set(now)
	var wg sync.WaitGroup
	sums := make([]TickSummary, 4)
	errs := make([]error, 4)
	for i := range sums {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &Planner{Store: w.st, Policy: outreach.DefaultPolicy(), Compose: w.compose, Batch: 7}
			sums[i], errs[i] = p.Tick(context.Background(), now)
		}()
	}
	wg.Wait()
	proposed := 0
	for i := range sums {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		proposed += sums[i].Proposed
	}
	if proposed != len(contacts) {
		t.Fatalf("%d drafts proposed by 4 planners, want %d", proposed, len(contacts))
	}
	var drafts, changes int
	if err := w.st.DB().Get(&drafts, `SELECT count(*) FROM drafts`); err != nil || drafts != len(contacts) {
		t.Fatalf("%d drafts (%v), want %d", drafts, err, len(contacts))
	}
	if err := w.st.DB().Get(&changes, `SELECT count(*) FROM events WHERE type = 'state_changed'`); err != nil || changes != 2*len(contacts) {
		t.Fatalf("%d state changes (%v), want %d", changes, err, 2*len(contacts))
	}
}

func TestTransitionPath(t *testing.T) {
	t.Parallel()
	cases := []struct {
		from, to outreach.ThreadState
		sent     int
		want     []outreach.ThreadState
	}{
		{outreach.ThreadAwaitingReply, outreach.ThreadAwaitingReply, 0, nil},
		{outreach.ThreadAwaitingReply, outreach.ThreadReplied, 0, []outreach.ThreadState{outreach.ThreadReplied}},
		{outreach.ThreadAwaitingReply, outreach.ThreadDraftProposed, 0, []outreach.ThreadState{outreach.ThreadFollowUpDue, outreach.ThreadDraftProposed}},
		{outreach.ThreadPaused, outreach.ThreadClosedNoResponse, 1, []outreach.ThreadState{outreach.ThreadFollowedUp, outreach.ThreadClosedNoResponse}},
		// Too late for the follow-up: closed straight from waiting...
		{outreach.ThreadAwaitingReply, outreach.ThreadClosedNoResponse, 0, []outreach.ThreadState{outreach.ThreadClosedNoResponse}},
		{outreach.ThreadPaused, outreach.ThreadClosedNoResponse, 0, []outreach.ThreadState{outreach.ThreadAwaitingReply, outreach.ThreadClosedNoResponse}},
		// ...but a thread followed up (by hand, during downtime) closes from followed_up.
		{outreach.ThreadAwaitingReply, outreach.ThreadClosedNoResponse, 1, []outreach.ThreadState{outreach.ThreadFollowedUp, outreach.ThreadClosedNoResponse}},
		{outreach.ThreadNeedsReview, outreach.ThreadClosedNoResponse, 1, []outreach.ThreadState{outreach.ThreadClosedNoResponse}},
	}
	for _, c := range cases {
		got := transitionPath(c.from, c.to, c.sent)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s -> %s (sent %d): %v, want %v", c.from, c.to, c.sent, got, c.want)
		}
		from := c.from
		for _, s := range got {
			if !from.CanTransition(s) {
				t.Errorf("%s -> %s: step %s -> %s is not legal", c.from, c.to, from, s)
			}
			from = s
		}
	}
}

// The planner loop decides at start, and again when kicked.
func TestPlannerRunLoop(t *testing.T) {
	t.Parallel()
	w := newWorld(t, professor)
	ctx, cancel := context.WithCancel(context.Background())
	kick := make(chan struct{})
	done := make(chan error, 1)
	w.clock.Set(day(7, 10))
	go func() { done <- w.planner.Run(ctx, time.Hour, kick, w.clock.Now) }()
	w.send(monday, professor, "orig@example.org", "Research opportunity") // threaded: due now
	w.clock.Set(day(7, 10))
	deadline := time.Now().Add(10 * time.Second)
	for w.thread(professor).State != outreach.ThreadDraftProposed {
		if time.Now().After(deadline) {
			t.Fatalf("thread still %s after kicks", w.thread(professor).State)
		}
		select {
		case kick <- struct{}{}:
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run ended with %v", err)
	}
}

// A first sync stores INBOX before Sent: the reply is threaded anyway once
// our email starts its thread, so no follow-up is proposed to someone who
// answered. The same for a bounce, found by the Message-ID it reports on.
func TestReplySyncedBeforeOurEmail(t *testing.T) {
	t.Parallel()
	w := newWorld(t, professor, "gone@med.example.edu")
	w.receive(day(2, 9), professor, "early-reply@med.example.edu", outreach.MessageHuman,
		`{"kind":"human","confidence":"certain"}`, "orig@example.org")
	w.receive(day(0, 10), "mailer-daemon@relay.example.net", "dsn@relay.example.net", outreach.MessageBounce,
		`{"kind":"bounce","permanent":true,"failed_recipients":["gone@med.example.edu"],"confidence":"certain","refers_to":["orig2@example.org"]}`)
	w.send(monday, professor, "orig@example.org", "Research opportunity")
	w.send(monday, "gone@med.example.edu", "orig2@example.org", "Research opportunity")
	w.tick(day(8, 10))
	w.wantState(professor, outreach.ThreadReplied)
	w.wantState("gone@med.example.edu", outreach.ThreadBounced)
}
