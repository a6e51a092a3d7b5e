package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/imapsync"
	"github.com/outreach/outreach/mailer"
	"github.com/outreach/outreach/rules"
	"github.com/outreach/outreach/store"
)

// SendAccount is one configured account as the sender needs it.
type SendAccount struct {
	Account                    // the sync view: row, name, address, IMAP
	DisplayName string         // shown in From
	Zone        *time.Location // the account's zone: its calendar day bounds the daily cap; nil is UTC
	SMTP        mailer.Server
	// ProviderFilesSent: the provider files what is submitted in the Sent
	// mailbox itself (Gmail, Microsoft 365), so no copy is appended.
	ProviderFilesSent bool
}

func (a SendAccount) zone() *time.Location {
	if a.Zone == nil {
		return time.UTC
	}
	return a.Zone
}

// Sender sends approved follow-ups over SMTP, each at most once, inside the
// recipient's send window and the account's daily cap. Before each send it
// re-checks the account's mailboxes (a sync pass, threading, the planner on
// the thread), so that a reply, bounce, block or pause that arrived since
// the approval supersedes the draft instead. It keeps no state of its own:
// the queue is the drafts table, a draft is held by a lease (store.Lease)
// while it is checked and sent, and several senders may run at once.
//
// A draft is committed to sending, with the exact message, before the SMTP
// transaction starts. After a crash the draft is resolved by looking for
// its Message-ID in the synced mailboxes: found means sent, not found means
// review ("may have been sent"). It is never resent blindly.
type Sender struct {
	Store    *store.Store
	Syncer   *Syncer
	Planner  *Planner
	Policy   outreach.Policy
	Accounts []SendAccount
	Now      func() time.Time // nil: time.Now
	Log      *slog.Logger
	// Interval is the time between runs in Run [1m].
	Interval time.Duration
	// MaxAttempts is how many temporary failures a draft may have before
	// it fails [8]. RetryBase is the wait after the first; each next wait
	// doubles, up to 6 hours [5m].
	MaxAttempts int
	RetryBase   time.Duration
	// SentKick, when set, is told (without blocking) after a follow-up went
	// out: the sync loop's WatchOptions.SentKick, for a prompt Sent pass.
	SentKick chan<- struct{}
	// Wake, when set, starts a run at once in Run (after an approval).
	Wake <-chan struct{}
	// Ran, when set, is told after every run of Run (tests wait on it).
	Ran func(SendReport, error)
}

// SendOutcome is what a run did with one draft.
type SendOutcome string

// The outcomes of a run, per draft.
const (
	OutcomeSent       SendOutcome = "sent"
	OutcomeRetry      SendOutcome = "retry"      // a temporary failure; tried again later
	OutcomeFailed     SendOutcome = "failed"     // a permanent failure: nothing was sent
	OutcomeReview     SendOutcome = "review"     // may have been sent: the applicant decides
	OutcomeSuperseded SendOutcome = "superseded" // the re-check found a reply, bounce, block or pause
	OutcomeWaiting    SendOutcome = "waiting"    // not now: the send window, the cap, a server down
	OutcomeSkipped    SendOutcome = "skipped"    // another sender holds it
)

// SendItem is one draft's outcome in a run.
type SendItem struct {
	Draft   int64       `json:"draft"`
	Thread  int64       `json:"thread"`
	Account string      `json:"account"`
	To      string      `json:"to"`
	Outcome SendOutcome `json:"outcome"`
	Reason  string      `json:"reason,omitempty"`
	Reply   string      `json:"smtp_reply,omitempty"`
	// Next is, for a retry, the next attempt; for a waiting draft, the
	// earliest time it may go.
	Next *time.Time `json:"next,omitempty"`
	// Recovered: a draft left in sending by a sender that stopped (or in
	// review), resolved by looking for its Message-ID in the mailboxes.
	Recovered bool `json:"recovered,omitempty"`
}

// SendReport is what one run did, draft by draft.
type SendReport struct {
	Items []SendItem
}

// Count is the number of drafts with the outcome.
func (r SendReport) Count(o SendOutcome) int {
	n := 0
	for _, it := range r.Items {
		if it.Outcome == o {
			n++
		}
	}
	return n
}

func (r *SendReport) add(it SendItem) { r.Items = append(r.Items, it) }

// Run sends what is due until ctx ends: a run at start (which resolves
// what a stopped sender left), then every Interval and whenever Wake
// receives. A failed run is logged and the next one tries again.
func (s *Sender) Run(ctx context.Context) error {
	t := time.NewTicker(s.interval())
	defer t.Stop()
	for {
		rep, err := s.RunOnce(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.logRun(rep, err)
		if s.Ran != nil {
			s.Ran(rep, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-s.Wake:
		}
	}
}

// RunOnce finishes what a stopped sender left (drafts in sending, copies
// not yet in Sent, drafts in review that turned up in a mailbox), then
// sends every approved follow-up that is due, account by account. An
// account whose servers cannot be reached does not stop the others; its
// error is returned with the report.
func (s *Sender) RunOnce(ctx context.Context) (SendReport, error) {
	var rep SendReport
	var errs []error
	for _, a := range s.Accounts {
		if err := s.runAccount(ctx, a, &rep); err != nil {
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
			errs = append(errs, fmt.Errorf("account %s: %w", a.Name, err))
		}
	}
	return rep, errors.Join(errs...)
}

func (s *Sender) runAccount(ctx context.Context, a SendAccount, rep *SendReport) error {
	now := s.now()
	unresolved, err := s.Store.UnresolvedSends(ctx, a.ID)
	if err != nil {
		return err
	}
	candidates, err := s.Store.SendCandidates(ctx, a.ID, now)
	if err != nil {
		return err
	}
	due, err := s.schedule(ctx, a, candidates, now, rep)
	if err != nil {
		return err
	}
	if len(unresolved) == 0 && len(due) == 0 {
		return nil // nothing needs the servers
	}
	mb := &mailbox{s: s, a: a}
	defer mb.close()
	if err := mb.refresh(ctx); err != nil {
		s.notSent(ctx, a, due, "not sent: the mailbox could not be checked for replies first ("+err.Error()+")", rep)
		return outreach.Errorf(outreach.KindUnavailable, "check the mailbox before sending: %w", err)
	}
	s.recover(ctx, mb, a, unresolved, rep)
	for i, c := range due {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rep.add(s.sendOne(ctx, mb, a, c, i > 0))
	}
	if mb.touchedSent {
		// Sync the copies now, so they are known as our follow-ups.
		if err := mb.refresh(ctx, imapsync.RoleSent); err != nil {
			s.logger().Warn("Sent not synced after sending; the next pass does it", "account", a.Name, "err", err)
		}
		s.kick()
	}
	return nil
}

// schedule keeps the candidates that may go at now: inside the recipient's
// send window (the contact's zone, else the account's; the policy with the
// contact's overrides) and under the account's daily cap. The others are
// reported as waiting, with when they may go.
func (s *Sender) schedule(ctx context.Context, a SendAccount, cands []store.SendCandidate, now time.Time,
	rep *SendReport) ([]store.SendCandidate, error) {
	if len(cands) == 0 {
		return nil, nil
	}
	dayStart, dayEnd := calendarDay(now, a.zone())
	sent, err := s.Store.SentToday(ctx, a.ID, dayStart, dayEnd)
	if err != nil {
		return nil, err
	}
	limit := s.Policy.Effective().DailySendCap
	var due []store.SendCandidate
	for _, c := range cands {
		pol := s.Policy.With(c.ContactPolicy).Effective()
		loc := zoneOr(c.ContactTimezone, a.zone())
		it := SendItem{Draft: c.DraftID, Thread: c.ThreadID, Account: a.Name, To: c.To, Outcome: OutcomeWaiting}
		switch {
		case !rules.InSendWindow(now, loc, pol):
			next := rules.NextSendTime(now, loc, pol)
			it.Next, it.Reason = &next, fmt.Sprintf("outside the send window (%s %s-%s, %s); it opens %s",
				strings.Join(pol.SendDays, ","), pol.SendStart, pol.SendEnd, loc, next.In(loc).Format(timeLayout))
		case sent+len(due) >= limit:
			next := rules.NextSendTime(dayEnd, loc, pol)
			it.Next, it.Reason = &next, fmt.Sprintf("the daily cap (daily_send_cap = %d) is reached for %s; next send time %s",
				limit, a.Email, next.In(loc).Format(timeLayout))
		default:
			due = append(due, c)
			continue
		}
		rep.add(it)
	}
	return due, nil
}

const timeLayout = "Mon 2006-01-02 15:04 MST"

// calendarDay is the day of now in loc, as [start, end).
func calendarDay(now time.Time, loc *time.Location) (time.Time, time.Time) {
	y, m, d := now.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc), time.Date(y, m, d+1, 0, 0, 0, 0, loc)
}

func zoneOr(name string, def *time.Location) *time.Location {
	if name != "" {
		if loc, err := time.LoadLocation(name); err == nil {
			return loc
		}
	}
	return def
}

// notSent reports the due drafts as waiting, and notes why on each.
func (s *Sender) notSent(ctx context.Context, a SendAccount, due []store.SendCandidate, reason string, rep *SendReport) {
	for _, c := range due {
		if err := s.Store.NoteNotSent(ctx, c.DraftID, reason); err != nil {
			s.logger().Warn("could not note why a draft waits", "draft", c.DraftID, "err", err)
		}
		rep.add(SendItem{Draft: c.DraftID, Thread: c.ThreadID, Account: a.Name, To: c.To, Outcome: OutcomeWaiting, Reason: reason})
	}
	if len(due) > 0 {
		s.logger().Warn("follow-ups not sent; tried again on the next run", "account", a.Name, "drafts", len(due), "reason", reason)
	}
}

// sendOne re-checks one draft's thread and sends it, under its lease.
// recheck asks for a fresh sync pass (the run's first pass is fresh enough
// for the first draft).
func (s *Sender) sendOne(ctx context.Context, mb *mailbox, a SendAccount, c store.SendCandidate, recheck bool) SendItem {
	it := SendItem{Draft: c.DraftID, Thread: c.ThreadID, Account: a.Name, To: c.To}
	lease, ok, err := s.Store.LeaseDraft(ctx, c.DraftID)
	if err != nil {
		return s.waiting(ctx, it, "not sent: "+err.Error())
	}
	if !ok {
		it.Outcome, it.Reason = OutcomeSkipped, "another sender is handling it"
		return it
	}
	defer lease.Release()
	now := s.now()
	if reason := s.recheck(ctx, mb, c, now, recheck); reason != "" {
		return s.waiting(ctx, it, reason)
	}
	if fate, err := s.Store.DraftFate(ctx, c.DraftID); err != nil {
		return s.waiting(ctx, it, "not sent: "+err.Error())
	} else if fate.State != c.State {
		return moved(it, fate)
	}
	raw, buildErr := mailer.Build(s.message(a, c, now))
	sess, err := mailer.Dial(ctx, a.SMTP)
	if err != nil {
		return s.waiting(ctx, it, dialReason(err))
	}
	defer func() {
		if sess != nil {
			_ = sess.Close()
		}
	}()
	dayStart, dayEnd := calendarDay(now, a.zone())
	raw, err = s.Store.StartSending(ctx, store.SendStart{DraftID: c.DraftID, AccountID: a.ID, Version: c.Version,
		Now: now, DayStart: dayStart, DayEnd: dayEnd, Cap: s.Policy.Effective().DailySendCap, Message: raw})
	if err != nil {
		return s.refused(ctx, it, err)
	}
	// From here on the draft is in sending: whatever happens is recorded,
	// even when ctx ends, and nothing sends it again.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if len(raw) == 0 {
		return s.fail(rctx, it, c, now, fmt.Sprintf("the message could not be built: %v", buildErr), 0)
	}
	if ctx.Err() != nil {
		// Stopped before MAIL FROM: certainly not sent; due again at once.
		return s.unsent(rctx, it, c, now, mailer.Result{Outcome: mailer.Temporary, Stage: "MAIL",
			Err: fmt.Errorf("stopped before the SMTP transaction began: %w", ctx.Err())})
	}
	res := sess.Send(a.Email, c.To, raw)
	if res.Outcome == mailer.Accepted {
		return s.accepted(rctx, mb, a, c, it, res, raw, now, &sess)
	}
	return s.unsent(rctx, it, c, now, res)
}

// recheck brings the account's mailboxes and the thread's decision up to
// date; "" when the draft may go on, else why it waits.
func (s *Sender) recheck(ctx context.Context, mb *mailbox, c store.SendCandidate, now time.Time, pass bool) string {
	if pass {
		if err := mb.refresh(ctx); err != nil {
			return "not sent: the mailbox could not be checked for replies first (" + err.Error() + ")"
		}
	}
	sum, err := s.Planner.PlanThread(ctx, c.ThreadID, now)
	if err != nil {
		return "not sent: the thread could not be re-checked (" + err.Error() + ")"
	}
	if sum.Skipped > 0 {
		return "not sent: the planner was deciding this thread; it is re-checked on the next run"
	}
	return ""
}

// moved reports a draft the re-check (or the applicant) changed.
func moved(it SendItem, f store.DraftFate) SendItem {
	if f.State == outreach.DraftSuperseded {
		it.Outcome, it.Reason = OutcomeSuperseded, supersededReason(f)
		return it
	}
	it.Outcome, it.Reason = OutcomeSkipped, "the draft is "+string(f.State)+" now"
	return it
}

func supersededReason(f store.DraftFate) string {
	switch {
	case f.Evidence != "" && f.Rule != "":
		return f.Evidence + " (" + f.Rule + ")"
	case f.Rule != "":
		return f.Rule
	}
	return "the thread changed since the approval"
}

func dialReason(err error) string {
	var de *mailer.DialError
	if errors.As(err, &de) && de.Refused {
		return "not sent: the SMTP server refused the login; check the account's [accounts.smtp] settings and password (" +
			err.Error() + ")"
	}
	return "not sent: the SMTP server could not be reached (" + err.Error() + ")"
}

// waiting reports a draft left as it was, and notes why on it.
func (s *Sender) waiting(ctx context.Context, it SendItem, reason string) SendItem {
	if err := s.Store.NoteNotSent(ctx, it.Draft, reason); err != nil {
		s.logger().Warn("could not note why a draft waits", "draft", it.Draft, "err", err)
	}
	s.logger().Warn("follow-up waits", "draft", it.Draft, "to", it.To, "reason", reason)
	it.Outcome, it.Reason = OutcomeWaiting, reason
	return it
}

// refused sorts a StartSending refusal: the draft was not sent.
func (s *Sender) refused(ctx context.Context, it SendItem, err error) SendItem {
	switch {
	case errors.Is(err, store.ErrDailyCap):
		it.Outcome, it.Reason = OutcomeWaiting, "the daily cap is reached ("+err.Error()+")"
		return it
	case errors.Is(err, store.ErrStaleCheck):
		it.Outcome, it.Reason = OutcomeWaiting, "mail arrived during the re-check; it is re-checked on the next run"
		return it
	}
	if f, ferr := s.Store.DraftFate(ctx, it.Draft); ferr == nil && f.State == outreach.DraftSuperseded {
		return moved(it, f)
	}
	if outreach.IsKind(err, outreach.KindConflict) {
		it.Outcome, it.Reason = OutcomeSkipped, "not sent: "+err.Error()
		return it
	}
	return s.waiting(ctx, it, "not sent: "+err.Error())
}

// accepted records a message the server took: sent first (the fact that
// matters), then QUIT, then the copy in Sent.
func (s *Sender) accepted(ctx context.Context, mb *mailbox, a SendAccount, c store.SendCandidate, it SendItem,
	res mailer.Result, raw []byte, now time.Time, sess **mailer.Session) SendItem {
	copyState := store.CopyPending
	if a.ProviderFilesSent {
		copyState = store.CopyProvider
	}
	it.Outcome, it.Reply = OutcomeSent, res.String()
	mb.touchedSent = true
	if err := s.Store.RecordSent(ctx, store.SendDone{DraftID: c.DraftID, Now: now, Reply: res.String(), Copy: copyState}); err != nil {
		// The server has it; the draft stays in sending until the next run
		// finds the copy in Sent (appended below when we append).
		it.Reason = "sent, but not recorded (" + err.Error() + "); the next run finds it in Sent"
		s.logger().Error("follow-up SENT but not recorded; the next run resolves it from the Sent mailbox",
			"draft", c.DraftID, "to", c.To, "err", err)
	} else {
		s.logger().Info("follow-up sent", "draft", c.DraftID, "thread", c.ThreadID, "to", c.To, "reply", res.String())
	}
	_ = (*sess).Close()
	*sess = nil
	if copyState == store.CopyPending {
		if err := mb.appendCopy(ctx, c.DraftID, raw, now); err != nil {
			it.Reason = strings.TrimPrefix(it.Reason+"; ", "; ") + "the copy in Sent is appended on the next run (" + err.Error() + ")"
			s.logger().Warn("copy not appended to Sent; the next run does it", "draft", c.DraftID, "err", err)
		}
	}
	return it
}

// unsent records a submission the server did not take, or may have.
func (s *Sender) unsent(ctx context.Context, it SendItem, c store.SendCandidate, now time.Time, res mailer.Result) SendItem {
	reason := res.String()
	switch res.Outcome {
	case mailer.Temporary:
		attempts := c.Attempts + 1
		if attempts >= s.maxAttempts() {
			return s.fail(ctx, it, c, now, fmt.Sprintf("gave up after %d temporary failures; the last: %s", attempts, reason), res.Code)
		}
		next := now.Add(s.backoff(attempts))
		if err := s.Store.RecordRetry(ctx, store.SendFailure{DraftID: c.DraftID, Now: now, Reason: reason, Code: res.Code,
			RetryAt: next}); err != nil {
			return s.unrecorded(it, err)
		}
		s.logger().Warn("follow-up not sent: temporary failure; tried again later", "draft", c.DraftID, "to", c.To,
			"reply", reason, "next", next)
		it.Outcome, it.Reason, it.Next = OutcomeRetry, reason, &next
		return it
	case mailer.Permanent:
		return s.fail(ctx, it, c, now, reason, res.Code)
	}
	reason = "may have been sent: no reply came to the end of DATA (" + reason + ")"
	if err := s.Store.RecordReview(ctx, store.SendFailure{DraftID: c.DraftID, Now: now, Reason: reason, Code: res.Code}); err != nil {
		return s.unrecorded(it, err)
	}
	s.logger().Error("follow-up MAY HAVE BEEN SENT: check the Sent folder and the recipient before doing anything",
		"draft", c.DraftID, "to", c.To, "reason", reason)
	it.Outcome, it.Reason = OutcomeReview, reason
	return it
}

func (s *Sender) fail(ctx context.Context, it SendItem, c store.SendCandidate, now time.Time, reason string, code int) SendItem {
	if err := s.Store.RecordFailed(ctx, store.SendFailure{DraftID: c.DraftID, Now: now, Reason: reason, Code: code}); err != nil {
		return s.unrecorded(it, err)
	}
	s.logger().Error("follow-up NOT sent: permanent failure; nothing went out", "draft", c.DraftID, "to", c.To, "reason", reason)
	it.Outcome, it.Reason = OutcomeFailed, reason
	return it
}

// unrecorded: the outcome could not be written; the draft stays in sending
// and the next run resolves it from the mailboxes, never by resending.
func (s *Sender) unrecorded(it SendItem, err error) SendItem {
	s.logger().Error("send outcome not recorded; the draft stays in sending until the next run resolves it",
		"draft", it.Draft, "err", err)
	it.Outcome, it.Reason = OutcomeReview, "the outcome could not be recorded ("+err.Error()+"); resolved on the next run"
	return it
}

// message is the follow-up to build from a candidate.
func (s *Sender) message(a SendAccount, c store.SendCandidate, now time.Time) mailer.Message {
	return mailer.Message{MessageID: c.MessageID, Date: now.In(a.zone()), From: a.Email, FromName: a.DisplayName,
		To: c.To, ToName: c.ToName, Subject: c.Subject, InReplyTo: c.InReplyTo, References: c.References, Body: c.Body}
}

func (s *Sender) backoff(attempts int) time.Duration {
	base := s.RetryBase
	if base <= 0 {
		base = 5 * time.Minute
	}
	d := base << min(attempts-1, 16)
	return min(d, 6*time.Hour)
}

func (s *Sender) maxAttempts() int {
	if s.MaxAttempts > 0 {
		return s.MaxAttempts
	}
	return 8
}

func (s *Sender) interval() time.Duration {
	if s.Interval > 0 {
		return s.Interval
	}
	return time.Minute
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Microsecond)
	}
	return time.Now().UTC().Truncate(time.Microsecond)
}

func (s *Sender) kick() {
	if s.SentKick == nil {
		return
	}
	select {
	case s.SentKick <- struct{}{}:
	default: // a Sent pass is already asked for
	}
}

func (s *Sender) logger() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// logRun writes one line for a run that did something.
func (s *Sender) logRun(rep SendReport, err error) {
	if err != nil {
		s.logger().Warn("send run incomplete", "err", err)
	}
	done := len(rep.Items) - rep.Count(OutcomeWaiting) - rep.Count(OutcomeSkipped)
	if done > 0 {
		s.logger().Info("send run", "sent", rep.Count(OutcomeSent), "retry", rep.Count(OutcomeRetry),
			"failed", rep.Count(OutcomeFailed), "review", rep.Count(OutcomeReview), "superseded", rep.Count(OutcomeSuperseded))
	}
}
