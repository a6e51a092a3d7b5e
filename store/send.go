package store

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	outreach "github.com/outreach/outreach"
)

// Sending follow-ups: the queue of approved drafts, the lease a sender holds
// on one draft, and the mailer's state changes. Email is at-most-once: a
// draft is committed to sending, with the exact message, before the SMTP
// transaction starts; every later step is a conditional transition from
// there, so a second sender, a restart or a late planner can never make a
// draft go out twice.

// Refusals of StartSending that leave the draft as it was, to be tried
// again on a later run. They are Conflicts; test them with errors.Is.
var (
	// ErrDailyCap: the account sent its daily_send_cap of follow-ups today.
	ErrDailyCap = errors.New("the daily send cap is reached")
	// ErrStaleCheck: something arrived for the thread or the account since
	// the re-check (a message not yet threaded or planned).
	ErrStaleCheck = errors.New("mail arrived since the re-check")
)

// Sent copy states (drafts.sent_copy).
const (
	CopyPending  = "pending"  // to be appended to the Sent mailbox
	CopyDone     = "done"     // appended, or found there
	CopyProvider = "provider" // the provider files submissions in Sent itself
)

// SendCandidate is an approved (or retrying) follow-up that may be sent,
// with what decides when: the recipient's zone and policy overrides.
type SendCandidate struct {
	DraftID    int64               `db:"id"`
	ThreadID   int64               `db:"thread_id"`
	State      outreach.DraftState `db:"state"`
	Version    int                 `db:"version"`
	To         string              `db:"to_addr"`
	ToName     string              `db:"to_name"`
	Subject    string              `db:"subject"`
	Body       string              `db:"body"`
	InReplyTo  string              `db:"in_reply_to"`
	References pq.StringArray      `db:"refs"`
	MessageID  string              `db:"message_id"`
	Attempts   int                 `db:"attempts"`
	// ContactTimezone is the contact's IANA zone, "" when unknown.
	ContactTimezone string                  `db:"contact_timezone"`
	ContactPolicy   outreach.PolicyOverride `db:"-"`
	RawPolicy       []byte                  `db:"contact_policy"`
}

// SendCandidates lists the account's drafts that wait to be sent at now:
// approved, or retrying with their next attempt due; first approved first.
func (s *Store) SendCandidates(ctx context.Context, accountID int64, now time.Time) ([]SendCandidate, error) {
	var out []SendCandidate
	err := s.db.SelectContext(ctx, &out, `
		SELECT d.id, d.thread_id, d.state, d.version, d.to_addr, d.subject, d.body, d.in_reply_to, d.refs,
		       d.message_id, d.attempts, c.timezone AS contact_timezone, c.policy AS contact_policy,
		       trim(c.first_name || ' ' || c.last_name) AS to_name
		FROM drafts d JOIN threads t ON t.id = d.thread_id JOIN contacts c ON c.id = t.contact_id
		WHERE t.account_id = $1 AND (d.state = 'approved' OR (d.state = 'retry' AND d.next_attempt_at <= $2))
		ORDER BY d.approved_at, d.id`, accountID, now)
	if err != nil {
		return nil, mapError("drafts to send", err)
	}
	for i := range out {
		if len(out[i].RawPolicy) > 0 {
			if err := json.Unmarshal(out[i].RawPolicy, &out[i].ContactPolicy); err != nil {
				return nil, outreach.Errorf(outreach.KindInternal, "draft %d: contact policy: %w", out[i].DraftID, err)
			}
		}
	}
	return out, nil
}

// SentToday counts the account's follow-ups handed to SMTP in [from, to)
// (its calendar day): sent, on their way, or possibly sent.
func (s *Store) SentToday(ctx context.Context, accountID int64, from, to time.Time) (int, error) {
	var n int
	err := s.db.GetContext(ctx, &n, sentTodayQuery, accountID, from, to)
	return n, mapError("follow-ups sent today", err)
}

const sentTodayQuery = `SELECT count(*) FROM drafts d JOIN threads t ON t.id = d.thread_id
	WHERE t.account_id = $1 AND d.state IN ('sending', 'sent', 'review')
	  AND d.sending_at >= $2 AND d.sending_at < $3`

// Unresolved is a draft the mailer must finish: stuck in sending (after a
// crash), in review (it may turn up in Sent), or sent without its copy in
// the Sent mailbox yet.
type Unresolved struct {
	DraftID   int64               `db:"id"`
	ThreadID  int64               `db:"thread_id"`
	State     outreach.DraftState `db:"state"`
	To        string              `db:"to_addr"`
	MessageID string              `db:"message_id"`
	SentCopy  string              `db:"sent_copy"`
	Raw       []byte              `db:"raw_message"` // the message handed to SMTP
	SendingAt *time.Time          `db:"sending_at"`
}

// UnresolvedSends lists the account's drafts in sending or review, and its
// sent drafts whose copy in Sent is pending.
func (s *Store) UnresolvedSends(ctx context.Context, accountID int64) ([]Unresolved, error) {
	var out []Unresolved
	err := s.db.SelectContext(ctx, &out, `
		SELECT d.id, d.thread_id, d.state, d.to_addr, d.message_id, d.sent_copy, d.raw_message, d.sending_at
		FROM drafts d JOIN threads t ON t.id = d.thread_id
		WHERE t.account_id = $1 AND (d.state IN ('sending', 'review') OR (d.state = 'sent' AND d.sent_copy = 'pending'))
		ORDER BY d.id`, accountID)
	return out, mapError("unfinished sends", err)
}

// MessageIDSeen reports whether a synced mailbox of the account holds (or
// held: expunged rows count) a message with this Message-ID; with roles,
// only mailboxes of those roles ("inbox", "sent", "extra") are searched.
func (s *Store) MessageIDSeen(ctx context.Context, accountID int64, messageID string, roles ...string) (bool, error) {
	var seen bool
	err := s.db.GetContext(ctx, &seen, `SELECT EXISTS (
		SELECT 1 FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
		WHERE b.account_id = $1 AND m.message_id = $2 AND (cardinality($3::text[]) = 0 OR b.role = ANY($3)))`,
		accountID, messageID, pq.Array(nonNil(roles)))
	return seen, mapError("look up "+messageID, err)
}

// Lease is one sender's hold on one draft, for as long as it re-checks,
// sends and records it: a PostgreSQL session-level advisory lock on a
// connection of its own. The database releases it when that connection
// ends, so a sender that crashes holds nothing; a draft in sending whose
// lease nobody holds is one whose sender died.
type Lease struct {
	conn    *sqlx.Conn
	draftID int64
}

// sendLockClass is the first key of the advisory locks on drafts
// (pg_advisory_lock(int, int)); capLockClass that of the per-account lock
// that makes the daily cap exact across senders.
const (
	sendLockClass = 0x6f757473 // "outs"
	capLockClass  = 0x6f757463 // "outc"
)

// LeaseDraft takes the lease on a draft when nobody holds it and no
// transaction is changing the draft or its thread right now (both rows are
// read FOR UPDATE SKIP LOCKED, thread first, as everywhere). ok is false
// when it is taken or busy: leave the draft to whoever has it.
func (s *Store) LeaseDraft(ctx context.Context, id int64) (l *Lease, ok bool, err error) {
	conn, err := s.db.Connx(ctx)
	if err != nil {
		return nil, false, mapError("lease draft", err)
	}
	defer func() {
		if !ok {
			conn.Close()
		}
	}()
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return nil, false, mapError("lease draft", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var found []int64
	if err := tx.SelectContext(ctx, &found, `SELECT id FROM threads
		WHERE id = (SELECT thread_id FROM drafts WHERE id = $1) FOR UPDATE SKIP LOCKED`, id); err != nil || len(found) == 0 {
		return nil, false, mapError(fmt.Sprintf("lease draft %d", id), err)
	}
	if err := tx.SelectContext(ctx, &found, `SELECT id FROM drafts WHERE id = $1 FOR UPDATE SKIP LOCKED`, id); err != nil || len(found) == 0 {
		return nil, false, mapError(fmt.Sprintf("lease draft %d", id), err)
	}
	var got bool
	if err := tx.GetContext(ctx, &got, `SELECT pg_try_advisory_lock($1, $2)`, sendLockClass, lockKey(id)); err != nil {
		return nil, false, mapError(fmt.Sprintf("lease draft %d", id), err)
	}
	if err := tx.Commit(); err != nil { // the session lock outlives the transaction
		return nil, false, mapError(fmt.Sprintf("lease draft %d", id), err)
	}
	if !got {
		return nil, false, nil
	}
	return &Lease{conn: conn, draftID: id}, true, nil
}

// Release gives the lease back. When the unlock cannot be confirmed the
// connection is discarded, which ends the session and its lock.
func (l *Lease) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var unlocked bool
	if err := l.conn.GetContext(ctx, &unlocked, `SELECT pg_advisory_unlock($1, $2)`, sendLockClass, lockKey(l.draftID)); err != nil || !unlocked {
		_ = l.conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	l.conn.Close()
}

// lockKey maps a draft or account id into the int4 second key; ids beyond
// 2^31 share keys, which only makes two drafts wait for each other.
func lockKey(id int64) int32 { return int32(id % (1 << 31)) }

// SendStart is the move of an approved draft to sending.
type SendStart struct {
	DraftID   int64
	AccountID int64
	Version   int       // the version the message was built from
	Now       time.Time // sending_at; the events are at it, or just after the thread's last history event
	// DayStart and DayEnd bound the account's calendar day; Cap is the
	// daily_send_cap. Counted under a per-account lock, so two senders
	// never exceed it together.
	DayStart, DayEnd time.Time
	Cap              int
	// Message is the message to hand to SMTP. A retry sends the message
	// stored at the first attempt, byte for byte, and this one is unused.
	Message []byte
}

// StartSending commits an approved (or retrying) draft to sending, with
// the message, before the SMTP transaction starts, and returns the
// message to send. It refuses, changing nothing:
//   - a draft that is no longer approved at that version (superseded by the
//     re-check, edited, rejected, taken by another sender): a Conflict;
//   - a thread that no longer waits for this follow-up (not draft_proposed,
//     or its one follow-up already counted): a Conflict;
//   - when news arrived since the re-check (a message of the account not
//     yet threaded, or a thread marked to be decided again): ErrStaleCheck;
//   - when the account reached its daily cap: ErrDailyCap.
//
// The database refuses a second follow-up of one thread in sending or
// sent (index drafts_one_followup_sent): that too is a Conflict.
func (s *Store) StartSending(ctx context.Context, in SendStart) ([]byte, error) {
	var raw []byte
	err := s.changeDraft(ctx, draftMove{id: in.DraftID, now: in.Now,
		from: []outreach.DraftState{outreach.DraftApproved, outreach.DraftRetry}, to: outreach.DraftSending,
		// sending_at is the send's own time, which the daily cap counts by.
		set:  `sending_at = $5, attempts = attempts + 1, next_attempt_at = NULL, last_error = '', raw_message = coalesce(raw_message, $4)`,
		args: []any{in.Message, in.Now},
		pre: func(ctx context.Context, tx *sqlx.Tx) error {
			_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, capLockClass, lockKey(in.AccountID))
			return err
		},
		check: func(ctx context.Context, tx *sqlx.Tx, d draftKey) error { return checkStart(ctx, tx, in, d) },
		after: func(ctx context.Context, tx *sqlx.Tx, _ draftKey, _ time.Time) error {
			return tx.GetContext(ctx, &raw, `SELECT raw_message FROM drafts WHERE id = $1`, in.DraftID)
		},
	})
	return raw, err
}

// checkStart applies StartSending's guards under the thread and draft locks.
func checkStart(ctx context.Context, tx *sqlx.Tx, in SendStart, d draftKey) error {
	if d.Version != in.Version {
		return outreach.Errorf(outreach.KindConflict, "draft %d is at version %d, not %d: it changed since it was read",
			in.DraftID, d.Version, in.Version)
	}
	var t struct {
		AccountID     int64  `db:"account_id"`
		State         string `db:"state"`
		FollowUpsSent int    `db:"followups_sent"`
		NextAction    string `db:"next_action"`
	}
	if err := tx.GetContext(ctx, &t, `SELECT account_id, state, followups_sent, next_action FROM threads WHERE id = $1`,
		d.ThreadID); err != nil {
		return err
	}
	switch {
	case t.AccountID != in.AccountID:
		return outreach.Errorf(outreach.KindInvalid, "draft %d belongs to account %d, not %d", in.DraftID, t.AccountID, in.AccountID)
	case t.FollowUpsSent > 0:
		return outreach.Errorf(outreach.KindConflict, "thread %d already had its one follow-up", d.ThreadID)
	case t.State != string(outreach.ThreadDraftProposed):
		return outreach.Errorf(outreach.KindConflict, "thread %d is %s: it no longer waits for this follow-up", d.ThreadID, t.State)
	case t.NextAction == "decide":
		return outreach.Errorf(outreach.KindConflict, "thread %d changed since the re-check: %w", d.ThreadID, ErrStaleCheck)
	}
	var pending int
	if err := tx.GetContext(ctx, &pending, `SELECT count(*) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
		WHERE b.account_id = $1 AND m.attached_at IS NULL AND m.raw IS NOT NULL`, in.AccountID); err != nil {
		return err
	}
	if pending > 0 {
		return outreach.Errorf(outreach.KindConflict, "%d synced messages are still being threaded: %w", pending, ErrStaleCheck)
	}
	var sent int
	if err := tx.GetContext(ctx, &sent, sentTodayQuery, in.AccountID, in.DayStart, in.DayEnd); err != nil {
		return err
	}
	if sent >= in.Cap {
		return outreach.Errorf(outreach.KindConflict, "%d of %d follow-ups sent today: %w", sent, in.Cap, ErrDailyCap)
	}
	return nil
}

// SendDone is the server's acceptance of a draft, recorded by RecordSent.
type SendDone struct {
	DraftID int64
	Now     time.Time
	Reply   string // the server's reply to the end of DATA, or how it was found
	Copy    string // CopyPending, CopyDone or CopyProvider
	Note    string // how the outcome was learnt, when not from the server
}

// RecordSent records that a draft went out, counts the thread's one
// follow-up and asks the planner to decide the thread again (its close
// after silence starts now). From sending, or from review when the message
// turns up in a mailbox after all.
func (s *Store) RecordSent(ctx context.Context, d SendDone) error {
	return s.changeDraft(ctx, draftMove{id: d.DraftID, now: d.Now,
		from: []outreach.DraftState{outreach.DraftSending, outreach.DraftReview}, to: outreach.DraftSent,
		set:    `sent_at = $3, smtp_reply = $4, sent_copy = $5, last_error = ''`,
		args:   []any{d.Reply, d.Copy},
		detail: map[string]any{"smtp_reply": d.Reply, "note": d.Note, "sent_copy": d.Copy},
		after:  followedUp})
}

// followedUp counts a sent draft as its thread's one follow-up and asks the
// planner to decide the thread again.
func followedUp(ctx context.Context, tx *sqlx.Tx, k draftKey, at time.Time) error {
	if err := markThreadFollowedUp(ctx, tx, k, at); err != nil {
		return err
	}
	return decideNow(ctx, tx, k, at)
}

// decideNow asks the planner to decide the draft's thread again at once.
func decideNow(ctx context.Context, tx *sqlx.Tx, k draftKey, at time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE threads SET next_action = 'decide', next_action_at = $2 WHERE id = $1`,
		k.ThreadID, at)
	return err
}

// SettleReview records the applicant's word on a draft in review, whose
// send may or may not have gone out (the server never answered the end of
// DATA, and no copy turned up in the synced mailboxes). Sent (they see it
// in their Sent folder, or the recipient has it) counts it as the thread's
// one follow-up, as RecordSent does. Not sent makes it failed: nothing is
// resent, and the planner sends the thread to needs_review, for the
// applicant to decide (resuming it lets the planner propose a follow-up
// again). Either way the planner decides the thread at once.
func (s *Store) SettleReview(ctx context.Context, draftID int64, sent bool, note string, now time.Time) error {
	m := draftMove{id: draftID, now: now, actor: "user", from: []outreach.DraftState{outreach.DraftReview},
		detail: map[string]any{"note": note}}
	if sent {
		m.to, m.after = outreach.DraftSent, followedUp
		m.set, m.args = `sent_at = $3, smtp_reply = $4, last_error = ''`, []any{"confirmed sent by the applicant"}
	} else {
		reason := "the applicant found it was not sent"
		if note != "" {
			reason += ": " + note
		}
		m.to, m.after = outreach.DraftFailed, decideNow
		m.set, m.args = `last_error = $4`, []any{reason}
	}
	return s.changeDraft(ctx, m)
}

// SendFailure is a send that did not (or may not have) gone out.
type SendFailure struct {
	DraftID int64
	Now     time.Time
	Reason  string    // the server's reply or the error, in words
	Code    int       // the SMTP reply code; 0 when none came
	RetryAt time.Time // for RecordRetry: the next attempt
}

// RecordRetry records a temporary failure (4xx, or the connection failed
// before the end of DATA): the draft is tried again at RetryAt, unless a
// reply, bounce, block or pause supersedes it first.
func (s *Store) RecordRetry(ctx context.Context, f SendFailure) error {
	return s.changeDraft(ctx, draftMove{id: f.DraftID, now: f.Now,
		from: []outreach.DraftState{outreach.DraftSending}, to: outreach.DraftRetry,
		set:    `next_attempt_at = $4, last_error = $5`,
		args:   []any{f.RetryAt, f.Reason},
		detail: map[string]any{"reason": f.Reason, "code": f.Code, "retry_at": f.RetryAt.UTC().Format(time.RFC3339)}})
}

// RecordFailed records a permanent failure (a 5xx, or too many temporary
// ones): nothing was sent and nothing will be; the applicant is told.
func (s *Store) RecordFailed(ctx context.Context, f SendFailure) error {
	return s.changeDraft(ctx, draftMove{id: f.DraftID, now: f.Now,
		from: []outreach.DraftState{outreach.DraftSending, outreach.DraftRetry}, to: outreach.DraftFailed,
		set: `last_error = $4`, args: []any{f.Reason},
		detail: map[string]any{"reason": f.Reason, "code": f.Code}})
}

// RecordReview records a send whose outcome is unknown (no reply to the
// end of DATA; a crash while sending and no copy found): it may have been
// sent. It is never retried; the applicant decides.
func (s *Store) RecordReview(ctx context.Context, f SendFailure) error {
	return s.changeDraft(ctx, draftMove{id: f.DraftID, now: f.Now,
		from: []outreach.DraftState{outreach.DraftSending}, to: outreach.DraftReview,
		set: `last_error = $4`, args: []any{f.Reason},
		detail: map[string]any{"reason": f.Reason, "code": f.Code}})
}

// RecordCopy records that the sent draft's copy is in the Sent mailbox.
func (s *Store) RecordCopy(ctx context.Context, draftID int64, now time.Time, how string) error {
	return s.inTx(ctx, fmt.Sprintf("draft %d: copy in Sent", draftID), func(tx *sqlx.Tx) error {
		var threadID int64
		err := tx.GetContext(ctx, &threadID, `UPDATE drafts SET sent_copy = 'done', updated_at = $2
			WHERE id = $1 AND state = 'sent' AND sent_copy = 'pending' RETURNING thread_id`, draftID, now)
		if kindOf(err) == outreach.KindNotFound {
			return nil // recorded already
		}
		if err != nil {
			return err
		}
		return appendEvent(ctx, tx, Event{At: now, Type: "sent_copy", Actor: "mailer", ThreadID: threadID,
			DraftID: draftID, Detail: map[string]any{"how": how}})
	})
}

// NoteNotSent records on a waiting draft why it was not sent this time
// (the mailbox could not be re-checked, the server could not be reached),
// for the applicant to see; the draft stays as it was.
func (s *Store) NoteNotSent(ctx context.Context, draftID int64, reason string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE drafts SET last_error = $2
		WHERE id = $1 AND state IN ('approved', 'retry')`, draftID, reason)
	return mapError(fmt.Sprintf("draft %d: note", draftID), err)
}

// DraftFate is where a draft stands, and the latest reason recorded for it.
type DraftFate struct {
	State     outreach.DraftState `db:"state"`
	SentCopy  string              `db:"sent_copy"`
	LastError string              `db:"last_error"`
	Rule      string              `db:"rule"`     // of the draft's latest event
	Evidence  string              `db:"evidence"` // the thread's latest decision, in words
}

// DraftFate reads a draft's state and the reason behind it.
func (s *Store) DraftFate(ctx context.Context, draftID int64) (DraftFate, error) {
	var f DraftFate
	err := s.db.GetContext(ctx, &f, `
		SELECT d.state, d.sent_copy, d.last_error, t.decision_evidence AS evidence,
		       coalesce((SELECT e.rule FROM events e WHERE e.draft_id = d.id ORDER BY e.id DESC LIMIT 1), '') AS rule
		FROM drafts d JOIN threads t ON t.id = d.thread_id WHERE d.id = $1`, draftID)
	return f, mapError(fmt.Sprintf("draft %d", draftID), err)
}

// draftMove is one conditional state change of a draft by the mailer.
type draftMove struct {
	id     int64
	from   []outreach.DraftState
	to     outreach.DraftState
	now    time.Time
	set    string // assignments after state and updated_at: $1 id, $2 state, $3 now, then args
	args   []any
	detail map[string]any
	actor  string                                                                 // "" means the mailer
	pre    func(ctx context.Context, tx *sqlx.Tx) error                           // before any row lock
	check  func(ctx context.Context, tx *sqlx.Tx, d draftKey) error               // under the locks, before the change
	after  func(ctx context.Context, tx *sqlx.Tx, d draftKey, at time.Time) error // at: the change's time
}

// changeDraft runs one draftMove in one transaction: the thread row, then
// the draft row are locked (lockDraft, the order every writer keeps), the
// state is checked, the row changed, and the event appended.
func (s *Store) changeDraft(ctx context.Context, m draftMove) error {
	return s.inTx(ctx, fmt.Sprintf("draft %d: %s", m.id, m.to), func(tx *sqlx.Tx) error {
		if m.pre != nil {
			if err := m.pre(ctx, tx); err != nil {
				return err
			}
		}
		var d draftKey
		if err := lockDraft(ctx, tx, m.id, &d); err != nil {
			return err
		}
		if !slices.Contains(m.from, outreach.DraftState(d.From)) {
			return outreach.Errorf(outreach.KindConflict, "draft %d is %s, not %v", m.id, d.From, m.from)
		}
		if m.check != nil {
			if err := m.check(ctx, tx, d); err != nil {
				return err
			}
		}
		// The thread's history stays in time order (threadClock).
		at, err := threadClock(ctx, tx, d.ThreadID, m.now)
		if err != nil {
			return err
		}
		args := append([]any{m.id, string(m.to), at}, m.args...)
		if _, err := tx.ExecContext(ctx, `UPDATE drafts SET state = $2, updated_at = $3, `+m.set+` WHERE id = $1`,
			args...); err != nil {
			if Constraint(err) == "drafts_one_followup_sent" {
				return outreach.Errorf(outreach.KindConflict,
					"thread %d already has a follow-up sending or sent: %w", d.ThreadID, err)
			}
			return err
		}
		detail := map[string]any{"version": d.Version}
		for k, v := range m.detail {
			if v != "" && v != 0 {
				detail[k] = v
			}
		}
		actor := m.actor
		if actor == "" {
			actor = "mailer"
		}
		if err := appendEvent(ctx, tx, Event{At: at, Type: "draft_" + string(m.to), Actor: actor,
			ThreadID: d.ThreadID, DraftID: m.id, FromState: d.From, ToState: string(m.to), Detail: detail}); err != nil {
			return err
		}
		if m.after != nil {
			return m.after(ctx, tx, d, at)
		}
		return nil
	})
}
