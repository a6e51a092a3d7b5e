package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	outreach "github.com/outreach/outreach"
)

// NewDraft is a follow-up to propose for a thread.
type NewDraft struct {
	ThreadID   int64
	To         string
	Subject    string
	Body       string
	InReplyTo  string
	References []string
	MessageID  string // our own Message-ID, fixed now so the Sent copy can be found later
	Template   string
}

// ProposeDraft stores a follow-up draft that waits for approval. A thread
// holds at most one live follow-up (proposed, approved, on its way or
// sent): a second is a Conflict (index drafts_one_live_followup).
func (s *Store) ProposeDraft(ctx context.Context, n NewDraft) (int64, error) {
	var id int64
	err := s.inTx(ctx, "propose draft", func(tx *sqlx.Tx) error {
		var err error
		id, err = insertDraft(ctx, tx, n, s.Now())
		return err
	})
	return id, err
}

func insertDraft(ctx context.Context, tx *sqlx.Tx, n NewDraft, now time.Time) (int64, error) {
	var id int64
	if err := tx.GetContext(ctx, &id, `
		INSERT INTO drafts (thread_id, state, to_addr, subject, body, in_reply_to, refs,
		                    message_id, template, created_at, updated_at)
		VALUES ($1, 'proposed', $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id`,
		n.ThreadID, n.To, n.Subject, n.Body, n.InReplyTo, pq.Array(nonNil(n.References)),
		n.MessageID, n.Template, now); err != nil {
		if Constraint(err) == "drafts_one_live_followup" {
			return 0, outreach.Errorf(outreach.KindConflict,
				"thread %d already has a follow-up proposed, approved or sent: %w", n.ThreadID, err)
		}
		return 0, err
	}
	return id, appendEvent(ctx, tx, Event{At: now, Type: "draft_proposed", Actor: "planner",
		ThreadID: n.ThreadID, DraftID: id, ToState: string(outreach.DraftProposed),
		Detail: map[string]any{"template": n.Template}})
}

// ApproveDraft approves a draft at exactly the given version; it is a
// Conflict when the draft changed since, or is no longer proposed.
func (s *Store) ApproveDraft(ctx context.Context, id int64, version int) error {
	return s.transitionDraft(ctx, draftChange{id: id, from: []outreach.DraftState{outreach.DraftProposed},
		to: outreach.DraftApproved, version: version, actor: "user", set: `approved_at = $3, approved_version = version`})
}

// BeginSending moves an approved draft to sending, committed before the SMTP
// transaction starts. The database refuses a second follow-up of one thread
// in sending or sent (index drafts_one_followup_sent): that is a Conflict.
func (s *Store) BeginSending(ctx context.Context, id int64) error {
	return s.transitionDraft(ctx, draftChange{id: id,
		from: []outreach.DraftState{outreach.DraftApproved, outreach.DraftRetry},
		to:   outreach.DraftSending, actor: "mailer", set: `sending_at = $3, attempts = attempts + 1`})
}

// MarkSent records the server's acceptance of a sending draft and counts the
// follow-up on its thread.
func (s *Store) MarkSent(ctx context.Context, id int64, smtpReply string) error {
	return s.transitionDraft(ctx, draftChange{id: id, from: []outreach.DraftState{outreach.DraftSending},
		to: outreach.DraftSent, actor: "mailer", set: `sent_at = $3, smtp_reply = $4`, reply: smtpReply,
		after: markThreadFollowedUp})
}

// draftChange is one conditional state change of a draft.
type draftChange struct {
	id      int64
	from    []outreach.DraftState
	to      outreach.DraftState
	version int    // when non-zero, the draft must be at this version
	actor   string // who decided
	set     string // extra assignments: $3 is the time, $4 the SMTP reply
	reply   string
	after   func(ctx context.Context, tx *sqlx.Tx, d draftKey, now time.Time) error
}

type draftKey struct {
	ThreadID int64  `db:"thread_id"`
	From     string `db:"state"`
	Version  int    `db:"version"`
}

func (s *Store) transitionDraft(ctx context.Context, c draftChange) error {
	op := fmt.Sprintf("draft %d: %s", c.id, c.to)
	return s.inTx(ctx, op, func(tx *sqlx.Tx) error {
		var d draftKey
		if err := lockDraft(ctx, tx, c.id, &d); err != nil {
			return err
		}
		now, err := threadClock(ctx, tx, d.ThreadID, s.Now())
		if err != nil {
			return err
		}
		if !slices.Contains(c.from, outreach.DraftState(d.From)) {
			return outreach.Errorf(outreach.KindConflict, "draft %d is %s, not %v", c.id, d.From, c.from)
		}
		if c.version != 0 && d.Version != c.version {
			return outreach.Errorf(outreach.KindConflict,
				"draft %d is at version %d, not %d: it changed since it was shown", c.id, d.Version, c.version)
		}
		args := []any{c.id, string(c.to), now}
		if strings.Contains(c.set, "$4") {
			args = append(args, c.reply)
		}
		q := `UPDATE drafts SET state = $2, updated_at = $3, ` + c.set + ` WHERE id = $1`
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			if Constraint(err) == "drafts_one_followup_sent" {
				return outreach.Errorf(outreach.KindConflict,
					"thread %d already has a follow-up sending or sent: %w", d.ThreadID, err)
			}
			return err
		}
		if err := appendEvent(ctx, tx, Event{At: now, Type: "draft_" + string(c.to), Actor: c.actor,
			ThreadID: d.ThreadID, DraftID: c.id, FromState: d.From, ToState: string(c.to),
			Detail: map[string]any{"version": d.Version}}); err != nil {
			return err
		}
		if c.after != nil {
			return c.after(ctx, tx, d, now)
		}
		return nil
	})
}

// lockDraft locks a draft's thread, then the draft: always in this order
// (the planner's), so that two writers never wait on each other in a cycle.
func lockDraft(ctx context.Context, tx *sqlx.Tx, id int64, d *draftKey) error {
	if _, err := tx.ExecContext(ctx, `SELECT 1 FROM threads WHERE id = (SELECT thread_id FROM drafts WHERE id = $1)
		FOR UPDATE`, id); err != nil {
		return err
	}
	return tx.GetContext(ctx, d, `SELECT thread_id, state, version FROM drafts WHERE id = $1 FOR UPDATE`, id)
}

// markThreadFollowedUp counts the one follow-up on the thread.
func markThreadFollowedUp(ctx context.Context, tx *sqlx.Tx, d draftKey, now time.Time) error {
	var from string
	if err := tx.GetContext(ctx, &from, `SELECT state FROM threads WHERE id = $1 FOR UPDATE`, d.ThreadID); err != nil {
		return err
	}
	to := from
	if outreach.ThreadState(from).CanTransition(outreach.ThreadFollowedUp) {
		to = string(outreach.ThreadFollowedUp)
	}
	if _, err := tx.ExecContext(ctx, `
		UPDATE threads SET state = $2, followups_sent = 1, last_outbound_at = $3,
		       next_action = '', next_action_at = NULL, version = version + 1, updated_at = $3
		WHERE id = $1`, d.ThreadID, to, now); err != nil {
		return err
	}
	return appendEvent(ctx, tx, Event{At: now, Type: "followup_sent", Actor: "mailer",
		ThreadID: d.ThreadID, FromState: from, ToState: to, Rule: "one_followup"})
}
