package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	outreach "github.com/outreach/outreach"
)

// ThreadRow is one thread as stored.
type ThreadRow struct {
	ID               int64                `db:"id" json:"id"`
	AccountID        int64                `db:"account_id" json:"account_id"`
	ContactID        int64                `db:"contact_id" json:"contact_id"`
	State            outreach.ThreadState `db:"state" json:"state"`
	Subject          string               `db:"subject" json:"subject"`
	RootMessageID    string               `db:"root_message_id" json:"root_message_id"`
	InitialSentAt    *time.Time           `db:"initial_sent_at" json:"initial_sent_at"`
	LastInboundAt    *time.Time           `db:"last_inbound_at" json:"last_inbound_at"`
	LastOutboundAt   *time.Time           `db:"last_outbound_at" json:"last_outbound_at"`
	FollowUpsSent    int                  `db:"followups_sent" json:"followups_sent"`
	PausedUntil      *time.Time           `db:"paused_until" json:"paused_until"`
	ClosedAt         *time.Time           `db:"closed_at" json:"closed_at"`
	ClosedReason     string               `db:"closed_reason" json:"closed_reason,omitempty"`
	NextAction       string               `db:"next_action" json:"next_action"`
	NextActionAt     *time.Time           `db:"next_action_at" json:"next_action_at"`
	DecisionRule     string               `db:"decision_rule" json:"rule,omitempty"`
	DecisionEvidence string               `db:"decision_evidence" json:"evidence,omitempty"`
	Warning          string               `db:"warning" json:"warning,omitempty"`
	Version          int                  `db:"version" json:"version"`
}

const threadColumns = `t.id, t.account_id, t.contact_id, t.state, t.subject, t.root_message_id,
	t.initial_sent_at, t.last_inbound_at, t.last_outbound_at, t.followups_sent, t.paused_until,
	t.closed_at, t.closed_reason, t.next_action, t.next_action_at, t.decision_rule,
	t.decision_evidence, t.warning, t.version`

// HistoryMessage is one message of a thread, as the planner sees it.
type HistoryMessage struct {
	ID             int64                 `db:"id"`
	MessageID      string                `db:"message_id"`
	Direction      outreach.Direction    `db:"direction"`
	Date           time.Time             `db:"date"`
	From           string                `db:"from_addr"`
	FromName       string                `db:"from_name"`
	To             pq.StringArray        `db:"to_addrs"`
	Subject        string                `db:"subject"`
	InReplyTo      pq.StringArray        `db:"in_reply_to"`
	Refs           pq.StringArray        `db:"refs"`
	Kind           *outreach.MessageKind `db:"kind"`
	Classification []byte                `db:"classification"`
	// Raw is the stored skeleton (headers and first text part) of our own
	// messages, for quoting in a follow-up; nil for incoming mail.
	Raw []byte `db:"raw"`
}

// DraftRow is one draft of a thread.
type DraftRow struct {
	ID        int64               `db:"id"`
	State     outreach.DraftState `db:"state"`
	Version   int                 `db:"version"`
	MessageID string              `db:"message_id"`
	To        string              `db:"to_addr"`
	Subject   string              `db:"subject"`
	CreatedAt time.Time           `db:"created_at"`
	SentAt    *time.Time          `db:"sent_at"`
}

// PlanInput is everything the planner reads about one thread, under the
// thread's row lock, so that its decision and what it writes agree.
type PlanInput struct {
	// Now is the instant of the decision: the caller's now, or just after
	// the thread's latest history event when that is later, so that what
	// the decision records replays after everything it saw.
	Now      time.Time
	Thread   ThreadRow
	Contact  outreach.Contact
	Account  outreach.Account
	Messages []HistoryMessage // oldest first
	Drafts   []DraftRow       // oldest first
	Events   []Event          // the applicant's and the drafts' events, oldest first
	// LastClosedNoResponse is when the latest other thread with this
	// contact closed without response (the cooldown starts there).
	LastClosedNoResponse *time.Time
}

// PlanOutcome is what the planner decided for one thread; PlanThread
// writes it in the same transaction that read the PlanInput.
type PlanOutcome struct {
	// Path lists the states the thread passes through, ending with the new
	// state; empty when the state stays. Every step is a legal transition.
	Path          []outreach.ThreadState
	FollowUpsSent int
	PausedUntil   *time.Time // for the paused state
	ClosedReason  string     // for the closed states
	NextAction    string
	NextActionAt  *time.Time
	Rule          string
	Evidence      string
	// Warning, such as over_contact, is recorded as an event when it is
	// new for the thread.
	Warning string
	// Expire moves the proposed draft to expired; Supersede moves every
	// proposed, approved or retrying draft to superseded. Both run before
	// Draft is inserted.
	Expire    bool
	Supersede bool
	Draft     *NewDraft
	// DraftError says why no draft could be written (a template mistake):
	// recorded as an event the first time in a row.
	DraftError string
	// Undeliverable addresses of the contact, after a permanent bounce.
	Undeliverable []string
}

// PlanResult says what PlanThread did.
type PlanResult struct {
	Planned    bool // false: another planner holds the thread, or it is no longer due
	From, To   outreach.ThreadState
	DraftID    int64
	Superseded int
	Expired    int
}

// DueThreads returns up to limit threads whose next action is due at now,
// the most overdue first. It reads the partial index on next_action_at, so
// its cost follows the number of due threads, not of all threads.
func (s *Store) DueThreads(ctx context.Context, now time.Time, limit int) ([]int64, error) {
	var ids []int64
	err := s.db.SelectContext(ctx, &ids, `SELECT id FROM threads WHERE next_action_at <= $1
		ORDER BY next_action_at, id LIMIT $2`, now, limit)
	return ids, mapError("due threads", err)
}

// MarkThreadDue asks the planner to look at a thread at now.
func (s *Store) MarkThreadDue(ctx context.Context, id int64) error {
	_, err := s.db.ExecContext(ctx, `UPDATE threads SET next_action = 'decide', next_action_at = $2
		WHERE id = $1`, id, s.Now())
	return mapError(fmt.Sprintf("thread %d", id), err)
}

// PlanThread locks one due thread (skipping it when another planner holds
// it), reads its history, asks plan what to do, and writes the decision,
// any draft and the events in one transaction. With force, the thread is
// planned even when its next action is not due.
func (s *Store) PlanThread(ctx context.Context, id int64, now time.Time, force bool,
	plan func(PlanInput) (PlanOutcome, error)) (PlanResult, error) {
	var res PlanResult
	err := s.inTx(ctx, fmt.Sprintf("plan thread %d", id), func(tx *sqlx.Tx) error {
		var in PlanInput
		err := tx.GetContext(ctx, &in.Thread, `SELECT `+threadColumns+` FROM threads t
			WHERE t.id = $1 AND ($3 OR t.next_action_at <= $2) FOR UPDATE SKIP LOCKED`, id, now, force)
		if kindOf(err) == outreach.KindNotFound {
			return nil
		}
		if err != nil {
			return err
		}
		res, _, err = planLocked(ctx, tx, in, now, plan)
		return err
	})
	return res, err
}

// planLocked decides a thread whose row this transaction has locked, and
// writes the decision.
func planLocked(ctx context.Context, tx *sqlx.Tx, in PlanInput, now time.Time,
	plan func(PlanInput) (PlanOutcome, error)) (PlanResult, PlanOutcome, error) {
	if err := loadPlanInput(ctx, tx, &in); err != nil {
		return PlanResult{}, PlanOutcome{}, err
	}
	// Everything is decided and written at one instant, also under
	// `tick --now`: the history replays in the order it was decided.
	var err error
	if in.Now, err = threadClock(ctx, tx, in.Thread.ID, now); err != nil {
		return PlanResult{}, PlanOutcome{}, err
	}
	out, err := plan(in)
	if err != nil {
		return PlanResult{}, out, err
	}
	res, err := applyPlan(ctx, tx, in, out, in.Now)
	return res, out, err
}

func loadPlanInput(ctx context.Context, tx *sqlx.Tx, in *PlanInput) error {
	t := &in.Thread
	var c contactRow
	if err := tx.GetContext(ctx, &c, contactSelect+` WHERE c.id = $1`, t.ContactID); err != nil {
		return fmt.Errorf("contact %d: %w", t.ContactID, err)
	}
	var err error
	if in.Contact, err = c.contact(); err != nil {
		return err
	}
	if err := tx.GetContext(ctx, &in.Account, `SELECT id, name, email, display_name AS displayname, timezone
		FROM accounts WHERE id = $1`, t.AccountID); err != nil {
		return fmt.Errorf("account %d: %w", t.AccountID, err)
	}
	if err := tx.SelectContext(ctx, &in.Messages, `
		SELECT id, message_id, direction, coalesce(sent_date, internal_date, created_at) AS date, from_addr,
		       from_name, to_addrs, subject, in_reply_to, refs, kind, classification,
		       CASE WHEN direction = 'out' THEN raw END AS raw
		FROM messages WHERE thread_id = $1 ORDER BY 4, id`, t.ID); err != nil {
		return fmt.Errorf("thread messages: %w", err)
	}
	if err := tx.SelectContext(ctx, &in.Drafts, `SELECT id, state, version, message_id, to_addr, subject,
		created_at, sent_at FROM drafts WHERE thread_id = $1 ORDER BY id`, t.ID); err != nil {
		return fmt.Errorf("thread drafts: %w", err)
	}
	if in.Events, err = threadEvents(ctx, tx, t.ID); err != nil {
		return err
	}
	return tx.GetContext(ctx, &in.LastClosedNoResponse, `SELECT max(closed_at) FROM threads
		WHERE contact_id = $1 AND id <> $2 AND state = 'closed_no_response'`, t.ContactID, t.ID)
}

// threadClock is the instant to record a thread's next history event at:
// now, or just after the thread's latest history event when that is later
// (a frozen or simulated clock, `tick --now` in the future). The decision
// rules replay a history in time order, so the order in which events were
// recorded must be their time order.
func threadClock(ctx context.Context, tx *sqlx.Tx, threadID int64, now time.Time) (time.Time, error) {
	now = now.UTC().Truncate(time.Microsecond)
	var last *time.Time
	if err := tx.GetContext(ctx, &last, `SELECT max(at) FROM events WHERE thread_id = $1 AND type = ANY($2)`,
		threadID, pq.Array(historyEventTypes)); err != nil {
		return now, fmt.Errorf("thread %d clock: %w", threadID, err)
	}
	if last != nil && !now.After(*last) {
		return last.UTC().Add(time.Microsecond), nil
	}
	return now, nil
}

// historyEventTypes are the events that are part of a thread's history.
var historyEventTypes = []string{"draft_proposed", "draft_approved", "draft_rejected", "draft_expired",
	"draft_superseded", "draft_sent", "draft_edited", "draft_failed", "draft_review", "user_pause", "user_resume", "user_close", "user_reopen"}

func threadEvents(ctx context.Context, tx *sqlx.Tx, threadID int64) ([]Event, error) {
	rows, err := tx.QueryxContext(ctx, `SELECT id, at, type, actor, coalesce(draft_id, 0), from_state, detail
		FROM events WHERE thread_id = $1 AND type = ANY($2) ORDER BY id`, threadID, pq.Array(historyEventTypes))
	if err != nil {
		return nil, fmt.Errorf("thread events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e := Event{ThreadID: threadID}
		var detail []byte
		if err := rows.Scan(&e.ID, &e.At, &e.Type, &e.Actor, &e.DraftID, &e.FromState, &detail); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(detail, &e.Detail); err != nil {
			return nil, fmt.Errorf("event %d: %w", e.ID, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func applyPlan(ctx context.Context, tx *sqlx.Tx, in PlanInput, out PlanOutcome, now time.Time) (PlanResult, error) {
	t := in.Thread
	res := PlanResult{Planned: true, From: t.State, To: t.State}
	var err error
	// Drafts first: a superseded or expired draft makes room for a new one.
	if out.Expire {
		if res.Expired, err = endDrafts(ctx, tx, t.ID, []string{"proposed"}, outreach.DraftExpired, out.Rule, now); err != nil {
			return res, err
		}
	}
	if out.Supersede {
		if res.Superseded, err = endDrafts(ctx, tx, t.ID, []string{"proposed", "approved", "retry"},
			outreach.DraftSuperseded, out.Rule, now); err != nil {
			return res, err
		}
	}
	from := t.State
	for i, to := range out.Path {
		if err := stepThread(ctx, tx, t.ID, from, to, out, i < len(out.Path)-1, now); err != nil {
			return res, err
		}
		from = to
	}
	res.To = from
	if out.Draft != nil {
		d := *out.Draft
		d.ThreadID = t.ID
		if res.DraftID, err = insertDraft(ctx, tx, d, now); err != nil {
			return res, err
		}
	}
	if _, err := tx.ExecContext(ctx, `
		UPDATE threads SET next_action = $2, next_action_at = $3, decision_rule = $4, decision_evidence = $5,
		       decided_at = $6, paused_until = CASE WHEN state = 'paused' THEN $7::timestamptz END,
		       warning = CASE WHEN $8 <> '' THEN $8 ELSE warning END, version = version + 1, updated_at = $6
		WHERE id = $1`, t.ID, out.NextAction, out.NextActionAt, out.Rule, out.Evidence, now, out.PausedUntil,
		out.Warning); err != nil {
		return res, fmt.Errorf("record decision: %w", err)
	}
	if out.Warning != "" && out.Warning != t.Warning {
		if err := appendEvent(ctx, tx, Event{At: now, Type: "warning", Actor: "planner", ThreadID: t.ID,
			ContactID: t.ContactID, Rule: "over_contact", Detail: map[string]any{"warning": out.Warning}}); err != nil {
			return res, err
		}
	}
	if out.DraftError != "" && t.DecisionRule != out.Rule {
		if err := appendEvent(ctx, tx, Event{At: now, Type: "draft_not_written", Actor: "planner", ThreadID: t.ID,
			ContactID: t.ContactID, Rule: out.Rule, Detail: map[string]any{"error": out.DraftError}}); err != nil {
			return res, err
		}
	}
	if len(out.Undeliverable) > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE contact_addresses SET state = 'undeliverable', state_reason = $3
			WHERE contact_id = $1 AND lower(address) = ANY($2) AND state <> 'undeliverable'`,
			t.ContactID, pq.Array(lowerAll(out.Undeliverable)), out.Evidence); err != nil {
			return res, fmt.Errorf("mark undeliverable: %w", err)
		}
	}
	return res, nil
}

// stepThread moves the thread one legal step and records it; a step on the
// way to the final state (catching up after downtime) says so.
func stepThread(ctx context.Context, tx *sqlx.Tx, id int64, from, to outreach.ThreadState, out PlanOutcome,
	catchUp bool, now time.Time) error {
	closed := to == outreach.ThreadClosedNoResponse || to == outreach.ThreadClosedByUser
	var paused *time.Time
	if to == outreach.ThreadPaused {
		paused = out.PausedUntil
	}
	reason := ""
	if closed {
		reason = out.ClosedReason
	}
	if _, err := tx.ExecContext(ctx, `
		UPDATE threads SET state = $2, followups_sent = GREATEST(followups_sent, $3), paused_until = $4,
		       closed_at = CASE WHEN $5 THEN coalesce(closed_at, $6) END, closed_reason = $7, updated_at = $6
		WHERE id = $1`, id, string(to), out.FollowUpsSent, paused, closed, now, reason); err != nil {
		return fmt.Errorf("thread %d %s -> %s: %w", id, from, to, err)
	}
	detail := map[string]any{"evidence": out.Evidence}
	if catchUp {
		detail["catch_up"] = true
	}
	if reason != "" {
		detail["closed_reason"] = reason
	}
	return appendEvent(ctx, tx, Event{At: now, Type: "state_changed", Actor: "planner", ThreadID: id,
		FromState: string(from), ToState: string(to), Rule: out.Rule, Detail: detail})
}

// endDrafts moves the thread's drafts in one of the from states to `to`,
// each with its event, and returns how many.
func endDrafts(ctx context.Context, tx *sqlx.Tx, threadID int64, from []string, to outreach.DraftState,
	rule string, now time.Time) (int, error) {
	var ended []struct {
		ID   int64  `db:"id"`
		From string `db:"from_state"`
	}
	if err := tx.SelectContext(ctx, &ended, `
		WITH old AS (SELECT id, state FROM drafts WHERE thread_id = $1 AND state = ANY($2) FOR UPDATE)
		UPDATE drafts d SET state = $3, updated_at = $4 FROM old WHERE d.id = old.id
		RETURNING d.id, old.state AS from_state`, threadID, pq.Array(from), string(to), now); err != nil {
		return 0, fmt.Errorf("drafts to %s: %w", to, err)
	}
	for _, d := range ended {
		if err := appendEvent(ctx, tx, Event{At: now, Type: "draft_" + string(to), Actor: "planner",
			ThreadID: threadID, DraftID: d.ID, FromState: d.From, ToState: string(to), Rule: rule}); err != nil {
			return 0, err
		}
	}
	return len(ended), nil
}

// LoadPlanInput reads what the planner would read about a thread, without
// locking or deciding anything (for previews).
func (s *Store) LoadPlanInput(ctx context.Context, threadID int64) (PlanInput, error) {
	var in PlanInput
	err := s.inTx(ctx, fmt.Sprintf("read thread %d", threadID), func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &in.Thread, `SELECT `+threadColumns+` FROM threads t WHERE t.id = $1`, threadID); err != nil {
			return err
		}
		return loadPlanInput(ctx, tx, &in)
	})
	return in, err
}
