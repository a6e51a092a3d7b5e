package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	outreach "github.com/outreach/outreach"
)

// DraftView is a draft with what the applicant needs to judge it: the
// email as it will be sent, its thread and why it was proposed.
type DraftView struct {
	ID              int64               `db:"id" json:"id"`
	ThreadID        int64               `db:"thread_id" json:"thread"`
	State           outreach.DraftState `db:"state" json:"state"`
	Version         int                 `db:"version" json:"version"`
	From            string              `db:"from_addr" json:"from"`
	FromName        string              `db:"from_name" json:"from_name,omitempty"`
	To              string              `db:"to_addr" json:"to"`
	Subject         string              `db:"subject" json:"subject"`
	Body            string              `db:"body" json:"body"`
	InReplyTo       string              `db:"in_reply_to" json:"in_reply_to"`
	References      pq.StringArray      `db:"refs" json:"references"`
	MessageID       string              `db:"message_id" json:"message_id"`
	Template        string              `db:"template" json:"template,omitempty"`
	ApprovedVersion *int                `db:"approved_version" json:"approved_version,omitempty"`
	ApprovedAt      *time.Time          `db:"approved_at" json:"approved_at,omitempty"`
	SentAt          *time.Time          `db:"sent_at" json:"sent_at,omitempty"`
	LastError       string              `db:"last_error" json:"last_error,omitempty"`
	CreatedAt       time.Time           `db:"created_at" json:"created_at"`
	UpdatedAt       time.Time           `db:"updated_at" json:"updated_at"`
	Contact         string              `db:"contact" json:"contact"`
	ContactName     string              `db:"contact_name" json:"contact_name,omitempty"`
	ThreadState     string              `db:"thread_state" json:"thread_state"`
	Reason          string              `db:"reason" json:"reason,omitempty"`
}

// Text is the draft as the recipient will see it: the headers that
// matter (From, To, Subject, In-Reply-To, References), then the body.
func (d DraftView) Text() string {
	var b strings.Builder
	from := d.From
	if d.FromName != "" {
		from = fmt.Sprintf("%s <%s>", d.FromName, d.From)
	}
	fmt.Fprintf(&b, "From: %s\nTo: %s\nSubject: %s\n", from, d.To, d.Subject)
	if d.InReplyTo != "" {
		fmt.Fprintf(&b, "In-Reply-To: <%s>\n", d.InReplyTo)
	}
	if len(d.References) > 0 {
		fmt.Fprintf(&b, "References: <%s>\n", strings.Join(d.References, "> <"))
	}
	fmt.Fprintf(&b, "\n%s", d.Body)
	return b.String()
}

const draftViewSelect = `
	SELECT d.id, d.thread_id, d.state, d.version, a.email AS from_addr, a.display_name AS from_name, d.to_addr,
	       d.subject, d.body, d.in_reply_to, d.refs, d.message_id, d.template, d.approved_version, d.approved_at,
	       d.sent_at, d.last_error, d.created_at, d.updated_at,
	       coalesce((SELECT address FROM contact_addresses ca WHERE ca.contact_id = t.contact_id
	                 ORDER BY ca.is_primary DESC, ca.id LIMIT 1), '') AS contact,
	       trim(c.first_name || ' ' || c.last_name) AS contact_name, t.state AS thread_state,
	       t.decision_evidence AS reason
	FROM drafts d JOIN threads t ON t.id = d.thread_id JOIN contacts c ON c.id = t.contact_id
	JOIN accounts a ON a.id = t.account_id`

// DraftFilter selects drafts; zero fields select everything.
type DraftFilter struct {
	States   []outreach.DraftState
	ThreadID int64
}

// Drafts lists drafts, oldest first.
func (s *Store) Drafts(ctx context.Context, f DraftFilter) ([]DraftView, error) {
	states := make([]string, len(f.States))
	for i, st := range f.States {
		states[i] = string(st)
	}
	var out []DraftView
	err := s.db.SelectContext(ctx, &out, draftViewSelect+`
		WHERE (cardinality($1::text[]) = 0 OR d.state = ANY($1)) AND ($2 = 0 OR d.thread_id = $2)
		ORDER BY d.id`, pq.Array(states), f.ThreadID)
	return out, mapError("list drafts", err)
}

// Draft returns one draft.
func (s *Store) Draft(ctx context.Context, id int64) (DraftView, error) {
	var d DraftView
	err := s.db.GetContext(ctx, &d, draftViewSelect+` WHERE d.id = $1`, id)
	return d, mapError(fmt.Sprintf("draft %d", id), err)
}

// DraftEdit is new content for a draft; empty fields keep theirs.
type DraftEdit struct {
	To, Subject, Body string
}

// EditDraft changes a waiting draft's content and bumps its version. The
// edit is of the version the applicant saw: a Conflict when it changed
// since. An approved draft goes back to proposed: its approval was of the
// old text and is void. To must be one of the contact's addresses.
func (s *Store) EditDraft(ctx context.Context, id int64, seenVersion int, e DraftEdit) (int, error) {
	var version int
	err := s.inTx(ctx, fmt.Sprintf("edit draft %d", id), func(tx *sqlx.Tx) error {
		var d draftKey
		if err := lockDraft(ctx, tx, id, &d); err != nil {
			return err
		}
		now, err := threadClock(ctx, tx, d.ThreadID, s.Now())
		if err != nil {
			return err
		}
		if from := outreach.DraftState(d.From); from != outreach.DraftProposed && from != outreach.DraftApproved {
			return outreach.Errorf(outreach.KindConflict, "draft %d is %s: only a proposed or approved draft can be edited", id, from)
		}
		if seenVersion != 0 && seenVersion != d.Version {
			return outreach.Errorf(outreach.KindConflict,
				"draft %d is at version %d, not %d: it changed since you opened it", id, d.Version, seenVersion)
		}
		if e.To != "" {
			var ok bool
			if err := tx.GetContext(ctx, &ok, `SELECT EXISTS (SELECT 1 FROM contact_addresses ca JOIN threads t
				ON t.contact_id = ca.contact_id WHERE t.id = $1 AND lower(ca.address) = lower($2))`, d.ThreadID,
				strings.TrimSpace(e.To)); err != nil {
				return err
			}
			if !ok {
				return outreach.Errorf(outreach.KindInvalid, "%s is not an address of this contact (add it with `outreach contacts add` or edit the contact)", e.To)
			}
		}
		if err := tx.GetContext(ctx, &version, `
			UPDATE drafts SET to_addr = coalesce(nullif($2, ''), to_addr), subject = coalesce(nullif($3, ''), subject),
			       body = coalesce(nullif($4, ''), body), version = version + 1,
			       state = 'proposed', approved_at = NULL, approved_version = NULL, updated_at = $5
			WHERE id = $1 RETURNING version`, id, strings.TrimSpace(e.To), strings.TrimSpace(e.Subject), e.Body, now); err != nil {
			return err
		}
		return appendEvent(ctx, tx, Event{At: now, Type: "draft_edited", Actor: "user", ThreadID: d.ThreadID, DraftID: id,
			FromState: d.From, ToState: string(outreach.DraftProposed),
			Detail: map[string]any{"from_version": d.Version, "to_version": version}})
	})
	return version, err
}

// ReviewAction is the applicant's verdict on a draft.
type ReviewAction string

// The verdicts.
const (
	ReviewApprove ReviewAction = "approve"
	ReviewReject  ReviewAction = "reject"  // no follow-up: the thread closes as declined
	ReviewRedraft ReviewAction = "redraft" // rejected, and a fresh draft is wanted
)

// Review is what the applicant's verdict did.
type Review struct {
	Draft DraftView // the draft afterwards
	// Refused says why an approval was refused after the thread was checked
	// again (a reply since, a block, a pause, an expiry); "" when approved.
	Refused     string
	ThreadState outreach.ThreadState
	NewDraftID  int64 // a redraft's fresh draft, when one could be written
	DraftError  string
}

// ReviewDraft carries out the applicant's verdict on a draft, in one
// transaction under the thread's lock. An approval is of one version: a
// Conflict when the draft changed since (version 0 approves the current
// one). Before approving, the thread is decided again with plan, and its
// writes are kept: if that withdrew the draft (a reply arrived, the
// contact was blocked, a pause began, the draft expired), nothing is
// approved and Refused says why. A rejection is recorded, then the thread
// is decided again: it closes as declined, or a fresh draft is proposed.
func (s *Store) ReviewDraft(ctx context.Context, id int64, action ReviewAction, version int, note string, now time.Time,
	plan func(PlanInput) (PlanOutcome, error)) (Review, error) {
	var rev Review
	op := fmt.Sprintf("%s draft %d", action, id)
	err := s.inTx(ctx, op, func(tx *sqlx.Tx) error {
		var d draftKey
		if err := lockDraft(ctx, tx, id, &d); err != nil {
			return err
		}
		at, err := threadClock(ctx, tx, d.ThreadID, now)
		if err != nil {
			return err
		}
		var in PlanInput
		if err := tx.GetContext(ctx, &in.Thread, `SELECT `+threadColumns+` FROM threads t WHERE t.id = $1`, d.ThreadID); err != nil {
			return err
		}
		switch action {
		case ReviewApprove:
			if err := checkApprovable(id, d, version); err != nil {
				return err
			}
			res, out, err := planLocked(ctx, tx, in, at, plan)
			if err != nil {
				return err
			}
			rev.ThreadState = res.To
			var state outreach.DraftState
			if err := tx.GetContext(ctx, &state, `SELECT state FROM drafts WHERE id = $1`, id); err != nil {
				return err
			}
			if state != outreach.DraftProposed || res.To != outreach.ThreadDraftProposed {
				rev.Refused = fmt.Sprintf("thread %d is %s: %s", d.ThreadID, res.To, out.Evidence)
				return nil
			}
			if _, err := tx.ExecContext(ctx, `UPDATE drafts SET state = 'approved', approved_at = $2,
				approved_version = version, updated_at = $2 WHERE id = $1`, id, at); err != nil {
				return err
			}
			if err := notify(ctx, tx, NoticeApproved); err != nil {
				return err
			}
			return appendEvent(ctx, tx, Event{At: at, Type: "draft_approved", Actor: "user", ThreadID: d.ThreadID,
				DraftID: id, FromState: d.From, ToState: string(outreach.DraftApproved),
				Detail: map[string]any{"version": d.Version, "note": note}})
		case ReviewReject, ReviewRedraft:
			if from := outreach.DraftState(d.From); from != outreach.DraftProposed && from != outreach.DraftApproved {
				return outreach.Errorf(outreach.KindConflict, "draft %d is %s: only a proposed or approved draft can be rejected", id, from)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE drafts SET state = 'rejected', updated_at = $2 WHERE id = $1`, id, at); err != nil {
				return err
			}
			if err := appendEvent(ctx, tx, Event{At: at, Type: "draft_rejected", Actor: "user", ThreadID: d.ThreadID,
				DraftID: id, FromState: d.From, ToState: string(outreach.DraftRejected),
				Detail: map[string]any{"version": d.Version, "redraft": action == ReviewRedraft, "note": note}}); err != nil {
				return err
			}
			res, out, err := planLocked(ctx, tx, in, at, plan)
			if err != nil {
				return err
			}
			rev.ThreadState, rev.NewDraftID, rev.DraftError = res.To, res.DraftID, out.DraftError
			return nil
		}
		return outreach.Errorf(outreach.KindInvalid, "unknown review action %q", action)
	})
	if err != nil {
		return rev, err
	}
	rev.Draft, err = s.Draft(ctx, id)
	return rev, err
}

// checkApprovable: only a proposed draft, at the version the applicant saw.
func checkApprovable(id int64, d draftKey, version int) error {
	if outreach.DraftState(d.From) != outreach.DraftProposed {
		return outreach.Errorf(outreach.KindConflict, "draft %d is %s, not waiting for approval", id, d.From)
	}
	if version != 0 && version != d.Version {
		return outreach.Errorf(outreach.KindConflict,
			"draft %d is at version %d, not %d: it changed since it was shown; look at it again (`outreach drafts show %d`)",
			id, d.Version, version, id)
	}
	return nil
}

// AttentionDraftStates are the drafts the applicant should look at: those
// waiting for approval, on their way, or in trouble.
var AttentionDraftStates = []outreach.DraftState{outreach.DraftProposed, outreach.DraftApproved,
	outreach.DraftSending, outreach.DraftRetry, outreach.DraftReview, outreach.DraftFailed}
