package daemon

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"mime"
	netmail "net/mail"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/imapsync"
	"github.com/outreach/outreach/internal/dovecot"
	"github.com/outreach/outreach/internal/smtptest"
	"github.com/outreach/outreach/internal/testwait"
	"github.com/outreach/outreach/mailer"
	"github.com/outreach/outreach/store"
	"github.com/outreach/outreach/store/storetest"
)

// sendWorld is one applicant with a real Dovecot (INBOX and Sent), a real
// SMTP server in the test process, and the store's clock under the test's
// control. Threads start the real way: the initial email is in Sent, a
// sync pass stores it, the planner proposes the follow-up, the test
// approves it.
type sendWorld struct {
	t       *testing.T
	st      *store.Store
	clock   *testClock
	imap    *dovecot.Server
	smtp    *smtptest.Server
	acct    SendAccount
	policy  outreach.Policy
	planner *Planner
}

// sendNow is a Tuesday, 10:00 UTC, eight days after the initial emails:
// a follow-up is due and the send window is open.
var sendNow = day(8, 10)

func newSendWorld(t *testing.T, hook smtptest.Hook) *sendWorld {
	t.Helper()
	w := &sendWorld{t: t, clock: &testClock{now: monday}, imap: dovecot.ForTest(t), policy: outreach.DefaultPolicy()}
	w.st = storetest.New(t, w.clock.Now)
	w.smtp = smtptest.Start(t, smtptest.Options{Hook: hook})
	id, err := w.st.EnsureAccount(context.Background(), outreach.Account{Name: "main", Email: applicant,
		DisplayName: "Amaka Obi", Timezone: "UTC"})
	if err != nil {
		t.Fatal(err)
	}
	w.acct = SendAccount{DisplayName: "Amaka Obi", Zone: time.UTC,
		Account: Account{ID: id, Name: "main", Email: applicant, IMAP: imapsync.Account{Host: w.imap.Host,
			Port: w.imap.Port, Security: "none", Username: dovecot.User, Password: dovecot.Password}},
		SMTP: mailer.Server{Host: w.smtp.Host, Port: w.smtp.Port, Security: "none", Username: smtptest.User,
			Password: smtptest.Password, Timeout: 5 * time.Second, DataTimeout: 5 * time.Second}}
	w.planner = &Planner{Store: w.st, Policy: w.policy, Compose: sendCompose,
		Log: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))}
	return w
}

func sendCompose(in store.PlanInput) (store.NewDraft, error) {
	return store.NewDraft{To: conversationAddress(in), Subject: "Re: " + in.Thread.Subject,
		Body:      "Dear Dr. " + in.Contact.LastName + ",\n\nA short follow-up on my email of last week.\n\nAmaka Obi\n",
		InReplyTo: in.Thread.RootMessageID, References: []string{in.Thread.RootMessageID}, Template: "test"}, nil
}

// rawMail is a small RFC 5322 message dated at.
func rawMail(from, to, subject, msgID string, at time.Time, headers ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: %s\r\n", from, to, subject, msgID,
		at.Format(time.RFC1123Z))
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThank you for your email; let us talk.\r\n")
	return []byte(b.String())
}

// approved sets up, for each contact, the initial email (in Sent, on
// Monday), the follow-up proposed at sendNow and approved; it returns the
// drafts in the order of the contacts.
func (w *sendWorld) approved(contacts ...string) []int64 {
	w.t.Helper()
	ctx := context.Background()
	var rows []outreach.ContactRow
	for i, c := range contacts {
		rows = append(rows, outreach.ContactRow{Line: i + 2, Contact: outreach.Contact{Email: c, Addresses: []string{c},
			FirstName: "Wei", LastName: "Chen"}})
		if err := w.imap.Deliver("Sent", rawMail("Amaka Obi <"+applicant+">", c, "Research opportunity",
			"orig-"+c, monday)); err != nil {
			w.t.Fatal(err)
		}
	}
	if _, err := w.st.ImportContacts(ctx, store.ImportRequest{Columns: []string{"email", "first_name", "last_name"},
		Rows: rows}); err != nil {
		w.t.Fatal(err)
	}
	w.clock.Set(sendNow)
	w.sync()
	if sum, err := w.planner.Tick(ctx, sendNow); err != nil || sum.Proposed != len(contacts) {
		w.t.Fatalf("tick: %+v, %v; want %d drafts", sum, err, len(contacts))
	}
	var ids []int64
	for _, c := range contacts {
		var id int64
		if err := w.st.DB().Get(&id, `SELECT id FROM drafts WHERE to_addr = $1`, c); err != nil {
			w.t.Fatal(err)
		}
		if err := w.st.ApproveDraft(ctx, id, 1); err != nil {
			w.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func (w *sendWorld) sync() {
	w.t.Helper()
	if _, err := (&Syncer{Store: w.st}).SyncOnce(context.Background(), w.acct.Account); err != nil {
		w.t.Fatal(err)
	}
	if _, err := AttachPending(context.Background(), w.st); err != nil {
		w.t.Fatal(err)
	}
}

func (w *sendWorld) sender() *Sender {
	return &Sender{Store: w.st, Syncer: &Syncer{Store: w.st}, Planner: w.planner, Policy: w.policy,
		Accounts: []SendAccount{w.acct}, Now: w.clock.Now,
		Log: slog.New(slog.NewTextHandler(w.t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))}
}

// run runs the sender once at the given time.
func (w *sendWorld) run(at time.Time) SendReport {
	w.t.Helper()
	w.clock.Set(at)
	rep, err := w.sender().RunOnce(context.Background())
	if err != nil {
		w.t.Fatalf("run at %v: %v", at, err)
	}
	return rep
}

type draftRow struct {
	State     string     `db:"state"`
	MessageID string     `db:"message_id"`
	SentCopy  string     `db:"sent_copy"`
	LastError string     `db:"last_error"`
	SMTPReply string     `db:"smtp_reply"`
	Attempts  int        `db:"attempts"`
	ThreadID  int64      `db:"thread_id"`
	NextAt    *time.Time `db:"next_attempt_at"`
}

func (w *sendWorld) draft(id int64) draftRow {
	w.t.Helper()
	var d draftRow
	if err := w.st.DB().Get(&d, `SELECT state, message_id, sent_copy, last_error, smtp_reply, attempts, thread_id,
		next_attempt_at FROM drafts WHERE id = $1`, id); err != nil {
		w.t.Fatal(err)
	}
	return d
}

// copiesInSent counts the messages with this Message-ID in the server's
// Sent mailbox, after a fresh sync pass.
func (w *sendWorld) copiesInSent(msgID string) int {
	w.t.Helper()
	w.sync()
	return rowCount(w.t, w.st, "b.role = 'sent' AND m.message_id = $1 AND m.expunged_at IS NULL", msgID)
}

// itemOf is the report's item for a draft.
func itemOf(rep SendReport, draft int64) SendItem {
	for _, it := range rep.Items {
		if it.Draft == draft {
			return it
		}
	}
	return SendItem{}
}

// outcomes is the report as "draft:outcome", by draft.
func outcomes(rep SendReport) string {
	items := slices.Clone(rep.Items)
	slices.SortStableFunc(items, func(a, b SendItem) int { return cmp.Compare(a.Draft, b.Draft) })
	var out []string
	for _, it := range items {
		out = append(out, fmt.Sprintf("%d:%s", it.Draft, it.Outcome))
	}
	return strings.Join(out, " ")
}

// The main road: the approved follow-up goes out once, as a reply in the
// conversation, its copy lands in Sent, and the planner counts it as the
// one follow-up (once, not as a reply and not twice).
func TestSenderSendsOneThreadedFollowUp(t *testing.T) {
	t.Parallel()
	w := newSendWorld(t, nil)
	id := w.approved(professor)[0]
	rep := w.run(sendNow.Add(time.Hour))
	if outcomes(rep) != fmt.Sprintf("%d:sent", id) || !strings.HasPrefix(rep.Items[0].Reply, "250 ") {
		t.Fatalf("report %+v", rep)
	}
	d := w.draft(id)
	if d.State != "sent" || d.SentCopy != store.CopyDone || !strings.HasPrefix(d.SMTPReply, "250 ") {
		t.Fatalf("draft %+v", d)
	}
	got := w.smtp.Wait(t, 1, 5*time.Second)[0]
	if got.From != applicant || strings.Join(got.To, ",") != professor {
		t.Fatalf("envelope %s -> %v", got.From, got.To)
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(got.Data))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	from, _ := msg.Header.AddressList("From")
	to, _ := msg.Header.AddressList("To")
	date, _ := msg.Header.Date()
	for _, c := range []struct{ name, got, want string }{
		{"Message-ID", msg.Header.Get("Message-Id"), "<" + d.MessageID + ">"},
		{"In-Reply-To", msg.Header.Get("In-Reply-To"), "<orig-" + professor + ">"},
		{"References", msg.Header.Get("References"), "<orig-" + professor + ">"},
		{"Subject", subject, "Re: Research opportunity"},
		{"From", fmt.Sprint(from), fmt.Sprint([]*netmail.Address{{Name: "Amaka Obi", Address: applicant}})},
		{"To", fmt.Sprint(to), fmt.Sprint([]*netmail.Address{{Name: "Wei Chen", Address: professor}})},
		{"Date", date.UTC().Format(time.RFC3339), sendNow.Add(time.Hour).Format(time.RFC3339)},
		{"Auto-Submitted", msg.Header.Get("Auto-Submitted"), ""},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if n := w.copiesInSent(d.MessageID); n != 1 {
		t.Fatalf("%d copies in Sent, want 1", n)
	}
	var dir string
	var thread *int64
	if err := w.st.DB().QueryRow(`SELECT m.direction, m.thread_id FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
		WHERE b.role = 'sent' AND m.message_id = $1`, d.MessageID).Scan(&dir, &thread); err != nil {
		t.Fatal(err)
	}
	if dir != "out" || thread == nil || *thread != d.ThreadID {
		t.Fatalf("the copy in Sent is %s in thread %v, want ours in thread %d", dir, thread, d.ThreadID)
	}
	if _, err := w.planner.Tick(context.Background(), sendNow.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	th := w.thread(d.ThreadID)
	if th.State != outreach.ThreadFollowedUp || th.FollowUpsSent != 1 || th.Warning != "" ||
		th.NextAction != "close_no_response" {
		t.Fatalf("thread after the follow-up: %+v", th)
	}
	if rep := w.run(sendNow.Add(3 * time.Hour)); len(rep.Items) != 0 {
		t.Fatalf("second run: %+v", rep)
	}
	if n := len(w.smtp.Messages()); n != 1 {
		t.Fatalf("%d messages sent, want 1", n)
	}
}

func (w *sendWorld) thread(id int64) store.ThreadListing {
	w.t.Helper()
	threads, err := w.st.Threads(context.Background(), store.ThreadFilter{})
	if err != nil {
		w.t.Fatal(err)
	}
	for _, th := range threads {
		if th.ID == id {
			return th
		}
	}
	w.t.Fatalf("no thread %d", id)
	return store.ThreadListing{}
}

// A reply that arrives between the approval and the send cancels the send:
// the draft is superseded, with the reason, and nothing reaches SMTP.
func TestSenderReplyBeforeTheSendCancelsIt(t *testing.T) {
	t.Parallel()
	w := newSendWorld(t, nil)
	id := w.approved(professor)[0]
	if err := w.imap.Deliver("INBOX", rawMail("Wei Chen <"+professor+">", applicant, "Re: Research opportunity",
		"reply@med.example.edu", sendNow.Add(30*time.Minute), "In-Reply-To: <orig-"+professor+">")); err != nil {
		t.Fatal(err)
	}
	rep := w.run(sendNow.Add(time.Hour))
	if outcomes(rep) != fmt.Sprintf("%d:superseded", id) || !strings.Contains(rep.Items[0].Reason, "reply") {
		t.Fatalf("report %+v", rep)
	}
	if d := w.draft(id); d.State != "superseded" || d.Attempts != 0 {
		t.Fatalf("draft %+v", d)
	}
	if th := w.thread(w.draft(id).ThreadID); th.State != outreach.ThreadReplied {
		t.Fatalf("thread %s", th.State)
	}
	var rule string
	if err := w.st.DB().Get(&rule, `SELECT rule FROM events WHERE draft_id = $1 AND type = 'draft_superseded'`, id); err != nil || rule == "" {
		t.Fatalf("superseded without a recorded reason: %q %v", rule, err)
	}
	if n := len(w.smtp.Messages()); n != 0 {
		t.Fatalf("%d messages reached SMTP", n)
	}
}

// 4xx: retry after a backoff, and the retry goes out once the server
// takes it; 5xx: failed, with the server's words, and never tried again.
func TestSenderTemporaryAndPermanentFailures(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	reply := map[string]error{
		"retry@med.example.edu": &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "greylisted"},
		"gone@med.example.edu":  &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"},
	}
	w := newSendWorld(t, func(st smtptest.Stage, m smtptest.Message) error {
		mu.Lock()
		defer mu.Unlock()
		if st == smtptest.StageRcpt {
			return reply[m.To[len(m.To)-1]]
		}
		return nil
	})
	ids := w.approved("retry@med.example.edu", "gone@med.example.edu")
	at := sendNow.Add(time.Hour)
	rep := w.run(at)
	if outcomes(rep) != fmt.Sprintf("%d:retry %d:failed", ids[0], ids[1]) {
		t.Fatalf("report %+v", rep)
	}
	retry, failed := w.draft(ids[0]), w.draft(ids[1])
	if retry.State != "retry" || retry.NextAt == nil || !retry.NextAt.Equal(at.Add(5*time.Minute)) ||
		!strings.Contains(retry.LastError, "451") {
		t.Fatalf("retry draft %+v", retry)
	}
	if failed.State != "failed" || !strings.Contains(failed.LastError, "550 5.1.1 no such user") {
		t.Fatalf("failed draft %+v", failed)
	}
	if rep := w.run(at.Add(time.Minute)); len(rep.Items) != 0 {
		t.Fatalf("run before the retry is due: %+v", rep)
	}
	mu.Lock()
	delete(reply, "retry@med.example.edu")
	mu.Unlock()
	if rep := w.run(at.Add(6 * time.Minute)); outcomes(rep) != fmt.Sprintf("%d:sent", ids[0]) {
		t.Fatalf("run when the retry is due: %+v", rep)
	}
	if d := w.draft(ids[0]); d.State != "sent" || d.Attempts != 2 {
		t.Fatalf("retried draft %+v", d)
	}
	accepted := 0
	for _, m := range w.smtp.Messages() {
		if m.Reply == 250 {
			accepted++
		}
	}
	if accepted != 1 || len(w.smtp.Messages()) != 1 {
		t.Fatalf("%d messages accepted of %d received, want 1 of 1", accepted, len(w.smtp.Messages()))
	}
}

// No reply to the end of DATA: review ("may have been sent"), never a
// retry; when the message turns up in a mailbox later, it is sent.
func TestSenderAmbiguousOutcomeGoesToReview(t *testing.T) {
	t.Parallel()
	w := newSendWorld(t, func(st smtptest.Stage, _ smtptest.Message) error {
		if st == smtptest.StageData {
			return smtptest.ErrDrop
		}
		return nil
	})
	id := w.approved(professor)[0]
	rep := w.run(sendNow.Add(time.Hour))
	if outcomes(rep) != fmt.Sprintf("%d:review", id) || !strings.Contains(rep.Items[0].Reason, "may have been sent") {
		t.Fatalf("report %+v", rep)
	}
	if rep := w.run(sendNow.Add(2 * time.Hour)); len(rep.Items) != 0 {
		t.Fatalf("second run: %+v", rep)
	}
	if n := len(w.smtp.Messages()); n != 1 {
		t.Fatalf("%d messages reached SMTP, want 1: never resent", n)
	}
	// The provider filed it in Sent after all.
	if err := w.imap.Deliver("Sent", w.smtp.Messages()[0].Data); err != nil {
		t.Fatal(err)
	}
	rep = w.run(sendNow.Add(3 * time.Hour))
	if outcomes(rep) != fmt.Sprintf("%d:sent", id) || !rep.Items[0].Recovered {
		t.Fatalf("run after the copy appeared: %+v", rep)
	}
	if d := w.draft(id); d.State != "sent" {
		t.Fatalf("draft %+v", d)
	}
}

// Outside the recipient's send window nothing goes, and the daily cap
// holds back what is over it until the next send day.
func TestSenderWindowAndDailyCap(t *testing.T) {
	t.Parallel()
	w := newSendWorld(t, nil)
	w.policy.DailySendCap = 1
	ids := w.approved("a@med.example.edu", "b@med.example.edu")
	if _, err := w.st.DB().Exec(`UPDATE contacts SET timezone = 'America/Chicago'
		WHERE id = (SELECT contact_id FROM contact_addresses WHERE address = 'b@med.example.edu')`); err != nil {
		t.Fatal(err)
	}
	// 07:00 UTC on Wednesday: before 08:00 in UTC, the middle of the night in Chicago.
	early := day(9, 7)
	rep := w.run(early)
	if outcomes(rep) != fmt.Sprintf("%d:waiting %d:waiting", ids[0], ids[1]) || itemOf(rep, ids[0]).Next == nil ||
		!itemOf(rep, ids[0]).Next.Equal(day(9, 8)) || !strings.Contains(itemOf(rep, ids[1]).Reason, "America/Chicago") {
		t.Fatalf("report at 07:00 UTC: %+v", rep)
	}
	// 15:00 UTC is 09:00 in Chicago: both in the window, one under the cap.
	rep = w.run(day(9, 15))
	if outcomes(rep) != fmt.Sprintf("%d:sent %d:waiting", ids[0], ids[1]) || !strings.Contains(itemOf(rep, ids[1]).Reason, "daily cap") {
		t.Fatalf("report at 15:00 UTC: %+v", rep)
	}
	if rep := w.run(day(10, 15)); outcomes(rep) != fmt.Sprintf("%d:sent", ids[1]) {
		t.Fatalf("report the next day: %+v", rep)
	}
	if n := len(w.smtp.Messages()); n != 2 {
		t.Fatalf("%d messages sent, want 2", n)
	}
}

// When the mailbox cannot be re-checked nothing is sent: the drafts wait,
// with the reason on them, and go once the server is back.
func TestSenderWithoutTheMailboxSendsNothing(t *testing.T) {
	t.Parallel()
	w := newSendWorld(t, nil)
	id := w.approved(professor)[0]
	w.imap.Kill()
	w.clock.Set(sendNow.Add(time.Hour))
	rep, err := w.sender().RunOnce(context.Background())
	if !outreach.IsKind(err, outreach.KindUnavailable) || outcomes(rep) != fmt.Sprintf("%d:waiting", id) {
		t.Fatalf("run without IMAP: %+v, %v", rep, err)
	}
	if d := w.draft(id); d.State != "approved" || !strings.Contains(d.LastError, "could not be checked for replies") {
		t.Fatalf("draft %+v", d)
	}
	if err := w.imap.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.acct.IMAP.Port = w.imap.Port
	if rep := w.run(sendNow.Add(2 * time.Hour)); outcomes(rep) != fmt.Sprintf("%d:sent", id) {
		t.Fatalf("run with IMAP back: %+v", rep)
	}
	if n := len(w.smtp.Messages()); n != 1 {
		t.Fatalf("%d messages sent", n)
	}
}

// Drafts a dead sender left in sending are resolved from the mailboxes:
// found in Sent, sent; not found, review. Neither is sent again.
func TestSenderResolvesDraftsLeftInSending(t *testing.T) {
	t.Parallel()
	w := newSendWorld(t, nil)
	ids := w.approved("found@med.example.edu", "lost@med.example.edu")
	for _, id := range ids {
		if _, err := w.st.StartSending(context.Background(), store.SendStart{DraftID: id, AccountID: w.acct.ID, Version: 1,
			Now: sendNow, DayStart: sendNow.Add(-time.Hour), DayEnd: sendNow.Add(time.Hour), Cap: 10,
			Message: []byte("Subject: x\r\n\r\nx\r\n")}); err != nil {
			t.Fatal(err)
		}
	}
	found := w.draft(ids[0])
	if err := w.imap.Deliver("Sent", rawMail(applicant, "found@med.example.edu", "Re: Research opportunity",
		found.MessageID, sendNow)); err != nil {
		t.Fatal(err)
	}
	rep := w.run(sendNow.Add(time.Hour))
	if outcomes(rep) != fmt.Sprintf("%d:sent %d:review", ids[0], ids[1]) || !itemOf(rep, ids[0]).Recovered ||
		!strings.Contains(itemOf(rep, ids[1]).Reason, "may have been sent: not found in Sent after a restart") {
		t.Fatalf("report %+v", rep)
	}
	if d := w.draft(ids[1]); d.State != "review" || !strings.Contains(d.LastError, "not found in Sent") {
		t.Fatalf("lost draft %+v", d)
	}
	if n := w.copiesInSent(found.MessageID); n != 1 {
		t.Fatalf("%d copies of the found draft in Sent, want 1", n)
	}
	if n := len(w.smtp.Messages()); n != 0 {
		t.Fatalf("%d messages sent, want none", n)
	}
}

// A provider that files submissions in Sent itself gets no second copy.
func TestSenderLeavesTheCopyToTheProvider(t *testing.T) {
	t.Parallel()
	w := newSendWorld(t, nil)
	w.acct.ProviderFilesSent = true
	id := w.approved(professor)[0]
	if rep := w.run(sendNow.Add(time.Hour)); outcomes(rep) != fmt.Sprintf("%d:sent", id) {
		t.Fatalf("report %+v", rep)
	}
	d := w.draft(id)
	if d.SentCopy != store.CopyProvider || w.copiesInSent(d.MessageID) != 0 {
		t.Fatalf("draft %+v; want the copy left to the provider", d)
	}
}

// Two senders run at once over the same approved drafts: each goes out
// exactly once.
func TestSendersInParallelSendEachOnce(t *testing.T) {
	t.Parallel()
	w := newSendWorld(t, nil)
	ids := w.approved("a@med.example.edu", "b@med.example.edu", "c@med.example.edu")
	w.clock.Set(sendNow.Add(time.Hour))
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := w.sender().RunOnce(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	seen := map[string]int{}
	for _, m := range w.smtp.Messages() {
		msg, err := netmail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		seen[msg.Header.Get("Message-Id")]++
	}
	for _, id := range ids {
		d := w.draft(id)
		if d.State != "sent" && d.State != "approved" {
			t.Fatalf("draft %d is %s", id, d.State)
		}
		if n := seen["<"+d.MessageID+">"]; n > 1 || (d.State == "sent") != (n == 1) {
			t.Fatalf("draft %d (%s) reached SMTP %d times", id, d.State, n)
		}
	}
	// What a sender skipped (held by the other) goes on the next run.
	w.run(sendNow.Add(2 * time.Hour))
	for _, id := range ids {
		if d := w.draft(id); d.State != "sent" {
			t.Fatalf("draft %d is %s after the next run", id, d.State)
		}
	}
	if n := len(w.smtp.Messages()); n != len(ids) {
		t.Fatalf("%d messages sent, want %d", n, len(ids))
	}
}

// Run resolves and sends at start, again when woken, and stops with ctx.
func TestSenderRunLoop(t *testing.T) {
	t.Parallel()
	w := newSendWorld(t, nil)
	ids := w.approved("a@med.example.edu")
	w.clock.Set(sendNow.Add(time.Hour))
	wake := make(chan struct{})
	kick := make(chan struct{}, 1)
	s := w.sender()
	s.Interval, s.Wake, s.SentKick = time.Hour, wake, kick
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	testwait.Until(t, 20*time.Second, "the first draft sent", func() bool { return w.draft(ids[0]).State == "sent" })
	select {
	case <-kick:
	case <-time.After(10 * time.Second):
		t.Fatal("no Sent pass asked for after the send")
	}
	// A second follow-up approved while Run waits goes out when woken.
	second := w.approved("b@med.example.edu")[0]
	w.clock.Set(sendNow.Add(2 * time.Hour))
	wake <- struct{}{}
	testwait.Until(t, 20*time.Second, "the second draft sent", func() bool { return w.draft(second).State == "sent" })
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run ended with %v", err)
	}
	if n := len(w.smtp.Messages()); n != 2 {
		t.Fatalf("%d messages sent, want 2", n)
	}
}
