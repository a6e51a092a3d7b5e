package outreach

import "time"

// ThreadState is where one outreach conversation stands. docs/states.md has
// the diagram; migrations/00001_schema.sql has the same table as a trigger.
type ThreadState string

// The thread states.
const (
	ThreadAwaitingReply    ThreadState = "awaiting_reply"     // the initial email went out; waiting
	ThreadFollowUpDue      ThreadState = "followup_due"       // silence long enough: a follow-up may be proposed
	ThreadDraftProposed    ThreadState = "draft_proposed"     // a follow-up draft waits for approval
	ThreadFollowedUp       ThreadState = "followed_up"        // the one follow-up went out
	ThreadClosedNoResponse ThreadState = "closed_no_response" // followed up, still silence: move on
	ThreadReplied          ThreadState = "replied"            // a human answered
	ThreadBounced          ThreadState = "bounced"            // a permanent delivery failure
	ThreadPaused           ThreadState = "paused"             // an out-of-office named a return date
	ThreadNeedsReview      ThreadState = "needs_review"       // something uncertain: the applicant decides
	ThreadBlocked          ThreadState = "blocked"            // the contact is on the do-not-contact list
	ThreadClosedByUser     ThreadState = "closed_by_user"     // the applicant closed it
)

// ThreadStates lists every thread state.
var ThreadStates = []ThreadState{ThreadAwaitingReply, ThreadFollowUpDue, ThreadDraftProposed,
	ThreadFollowedUp, ThreadClosedNoResponse, ThreadReplied, ThreadBounced, ThreadPaused,
	ThreadNeedsReview, ThreadBlocked, ThreadClosedByUser}

// ThreadTransitions is the table of legal state changes. The database holds
// the same table (thread_transitions) and refuses any other change.
var ThreadTransitions = map[ThreadState][]ThreadState{
	ThreadAwaitingReply: {ThreadFollowUpDue, ThreadFollowedUp, ThreadReplied, ThreadBounced,
		ThreadPaused, ThreadNeedsReview, ThreadBlocked, ThreadClosedByUser, ThreadClosedNoResponse},
	ThreadFollowUpDue: {ThreadDraftProposed, ThreadFollowedUp, ThreadReplied, ThreadBounced,
		ThreadPaused, ThreadNeedsReview, ThreadBlocked, ThreadClosedByUser, ThreadClosedNoResponse},
	ThreadDraftProposed: {ThreadFollowedUp, ThreadFollowUpDue, ThreadReplied, ThreadBounced,
		ThreadPaused, ThreadNeedsReview, ThreadBlocked, ThreadClosedByUser, ThreadClosedNoResponse},
	ThreadFollowedUp: {ThreadClosedNoResponse, ThreadReplied, ThreadBounced, ThreadPaused,
		ThreadNeedsReview, ThreadBlocked, ThreadClosedByUser},
	ThreadPaused: {ThreadAwaitingReply, ThreadFollowUpDue, ThreadFollowedUp, ThreadReplied,
		ThreadBounced, ThreadNeedsReview, ThreadBlocked, ThreadClosedByUser},
	ThreadNeedsReview: {ThreadAwaitingReply, ThreadFollowUpDue, ThreadFollowedUp, ThreadReplied,
		ThreadBounced, ThreadPaused, ThreadBlocked, ThreadClosedByUser, ThreadClosedNoResponse},
	ThreadReplied:          {ThreadNeedsReview, ThreadBlocked, ThreadClosedByUser},
	ThreadBounced:          {ThreadReplied, ThreadNeedsReview, ThreadBlocked, ThreadClosedByUser},
	ThreadClosedNoResponse: {ThreadReplied, ThreadBounced, ThreadNeedsReview, ThreadBlocked},
	ThreadClosedByUser:     {ThreadReplied, ThreadNeedsReview, ThreadBlocked},
	ThreadBlocked:          {ThreadClosedByUser},
}

// CanTransition reports whether a thread may move from one state to another.
// Staying in the same state is always allowed.
func (s ThreadState) CanTransition(to ThreadState) bool {
	return s == to || contains(ThreadTransitions[s], to)
}

// Valid reports whether s is a thread state.
func (s ThreadState) Valid() bool { return contains(ThreadStates, s) }

// Thread is one outreach conversation with one contact, from one account.
type Thread struct {
	ID             int64
	AccountID      int64
	ContactID      int64
	State          ThreadState
	Subject        string
	RootMessageID  string
	InitialSentAt  *time.Time
	LastInboundAt  *time.Time
	LastOutboundAt *time.Time
	FollowUpsSent  int
	PausedUntil    *time.Time
	ClosedAt       *time.Time
	ClosedReason   string
	NextAction     string
	NextActionAt   *time.Time
	Version        int
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
