package outreach

import (
	"errors"
	"fmt"
	"testing"
)

func TestTransitionTablesAreClosed(t *testing.T) {
	for from, tos := range ThreadTransitions {
		if !from.Valid() {
			t.Errorf("unknown thread state %q", from)
		}
		for _, to := range tos {
			if !to.Valid() || to == from {
				t.Errorf("thread %s -> %s: not a state, or a self-loop listed", from, to)
			}
		}
	}
	for from, tos := range DraftTransitions {
		for _, to := range tos {
			if !from.Valid() || !to.Valid() || to == from {
				t.Errorf("draft %s -> %s: not a state, or a self-loop listed", from, to)
			}
		}
	}
	// What was sent stays sent; nothing leaves a human reply back to waiting.
	for _, s := range []DraftState{DraftSent, DraftFailed, DraftRejected, DraftSuperseded, DraftExpired} {
		if len(DraftTransitions[s]) != 0 {
			t.Errorf("draft state %s should be final, leads to %v", s, DraftTransitions[s])
		}
	}
	for _, to := range []ThreadState{ThreadAwaitingReply, ThreadFollowUpDue, ThreadDraftProposed, ThreadFollowedUp} {
		if ThreadReplied.CanTransition(to) {
			t.Errorf("a replied thread may become %s: a follow-up could follow a reply", to)
		}
	}
	if ThreadFollowedUp.CanTransition(ThreadFollowUpDue) || ThreadFollowedUp.CanTransition(ThreadDraftProposed) {
		t.Error("a followed-up thread may become due again: a second follow-up")
	}
}

func TestErrorKinds(t *testing.T) {
	base := Errorf(KindConflict, "draft %d changed", 7)
	wrapped := fmt.Errorf("approve: %w", base)
	if KindOf(wrapped) != KindConflict || !IsKind(wrapped, KindConflict) {
		t.Errorf("kind lost through wrapping: %v", KindOf(wrapped))
	}
	cause := errors.New("socket closed")
	e := Errorf(KindUnavailable, "connect: %w", cause)
	if !errors.Is(e, cause) || e.Error() != "connect: socket closed" {
		t.Errorf("Errorf: %q, cause kept %v", e, errors.Is(e, cause))
	}
	if KindOf(nil) != "" || KindOf(cause) != KindInternal {
		t.Error("KindOf of nil or a plain error")
	}
}
