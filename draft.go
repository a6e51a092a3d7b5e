package outreach

import "time"

// DraftState is where a follow-up draft stands between proposal and delivery.
type DraftState string

// The draft states. Email is at-most-once: a draft is committed to `sending`
// before the SMTP transaction starts, and one found there after a crash is
// resolved against the Sent mailbox by its Message-ID, never resent blindly.
const (
	DraftProposed   DraftState = "proposed"   // waits for the applicant's approval
	DraftApproved   DraftState = "approved"   // approved at one version; waits for the send window
	DraftSending    DraftState = "sending"    // committed before SMTP starts
	DraftSent       DraftState = "sent"       // the server accepted it
	DraftRetry      DraftState = "retry"      // a temporary failure; tried again later
	DraftFailed     DraftState = "failed"     // a permanent failure; the applicant is told
	DraftReview     DraftState = "review"     // may have been sent: the applicant decides
	DraftRejected   DraftState = "rejected"   // the applicant said no
	DraftSuperseded DraftState = "superseded" // a reply, bounce, block or pause made it moot
	DraftExpired    DraftState = "expired"    // nobody approved it in time
)

// DraftStates lists every draft state.
var DraftStates = []DraftState{DraftProposed, DraftApproved, DraftSending, DraftSent, DraftRetry,
	DraftFailed, DraftReview, DraftRejected, DraftSuperseded, DraftExpired}

// DraftTransitions is the table of legal draft state changes; the database
// holds the same table (draft_transitions).
var DraftTransitions = map[DraftState][]DraftState{
	DraftProposed: {DraftApproved, DraftRejected, DraftSuperseded, DraftExpired},
	DraftApproved: {DraftProposed, DraftSending, DraftRejected, DraftSuperseded},
	DraftSending:  {DraftSent, DraftRetry, DraftFailed, DraftReview},
	DraftRetry:    {DraftSending, DraftSuperseded, DraftFailed},
	DraftReview:   {DraftSent, DraftFailed},
}

// CanTransition reports whether a draft may move from one state to another.
func (s DraftState) CanTransition(to DraftState) bool {
	return s == to || contains(DraftTransitions[s], to)
}

// Valid reports whether s is a draft state.
func (s DraftState) Valid() bool { return contains(DraftStates, s) }

// Draft is a follow-up email waiting for approval or on its way.
type Draft struct {
	ID              int64
	ThreadID        int64
	State           DraftState
	Version         int
	To              string
	Subject         string
	Body            string
	InReplyTo       string
	References      []string
	MessageID       string
	ApprovedVersion *int
	ApprovedAt      *time.Time
	SendingAt       *time.Time
	SentAt          *time.Time
}
