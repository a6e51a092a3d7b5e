package daemon

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/store"
)

// proposed runs the story up to a proposed follow-up and returns its id.
func (w *world) proposed(contact string) (threadID, draftID int64) {
	w.t.Helper()
	w.send(monday, contact, "orig-"+contact, "Research opportunity")
	w.tick(day(7, 10))
	th := w.wantState(contact, outreach.ThreadDraftProposed)
	if err := w.st.DB().Get(&draftID, `SELECT id FROM drafts WHERE thread_id = $1 AND state = 'proposed'`, th.ID); err != nil {
		w.t.Fatal(err)
	}
	return th.ID, draftID
}

func (w *world) review(draftID int64, a store.ReviewAction, version int) (store.Review, error) {
	w.t.Helper()
	return w.planner.Review(context.Background(), draftID, a, version, "", w.clock.Now())
}

// An approval binds one version: an edit voids it, and approving a version
// that is no longer current is refused.
func TestApprovalIsOfOneVersion(t *testing.T) {
	t.Parallel()
	w := newWorld(t, professor)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, id := w.proposed(professor)
	w.clock.Set(day(7, 11))
	v, err := w.st.EditDraft(ctx, id, 1, store.DraftEdit{Body: "Dear Dr. Chen,\n\nA shorter follow-up.\n"})
	if err != nil || v != 2 {
		t.Fatalf("edit: version %d, %v", v, err)
	}
	if _, err := w.review(id, store.ReviewApprove, 1); !outreach.IsKind(err, outreach.KindConflict) {
		t.Fatalf("approving version 1 after the edit: %v, want a conflict", err)
	}
	notices, err := w.st.Listen(ctx, store.NoticeApproved)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := w.review(id, store.ReviewApprove, 2)
	if err != nil || rev.Refused != "" || rev.Draft.State != outreach.DraftApproved || *rev.Draft.ApprovedVersion != 2 {
		t.Fatalf("approving version 2: %+v %v", rev, err)
	}
	select { // what wakes the sender of `outreach run`
	case <-notices:
	case <-time.After(30 * time.Second):
		t.Fatal("the approval was not announced")
	}
	// Editing the approved draft voids the approval.
	if _, err := w.st.EditDraft(ctx, id, 2, store.DraftEdit{Subject: "Re: Research opportunity (CV attached on request)"}); err != nil {
		t.Fatal(err)
	}
	d, _ := w.st.Draft(ctx, id)
	if d.State != outreach.DraftProposed || d.Version != 3 || d.ApprovedVersion != nil {
		t.Fatalf("after editing an approved draft: %s v%d approved %v", d.State, d.Version, d.ApprovedVersion)
	}
	if _, err := w.st.EditDraft(ctx, id, 3, store.DraftEdit{To: "someone@else.example"}); !outreach.IsKind(err, outreach.KindInvalid) {
		t.Fatalf("edit to a stranger's address: %v, want invalid", err)
	}
	// The expiry clock restarts with the re-proposal: still waiting later on.
	w.tick(day(9, 10))
	w.wantState(professor, outreach.ThreadDraftProposed)
}

// Approval and an edit race in two transactions: whichever commits first,
// the draft never ends approved at a version that was not approved.
func TestApprovalAndEditRace(t *testing.T) {
	t.Parallel()
	var contacts []string
	for round := range 20 {
		contacts = append(contacts, fmt.Sprintf("race%d@med.example.edu", round))
	}
	w := newWorld(t, contacts...)
	for round, contact := range contacts {
		_, id := w.proposed(contact)
		w.clock.Set(day(7, 11))
		var wg sync.WaitGroup
		start := make(chan struct{})
		var editErr, approveErr error
		var rev store.Review
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			_, editErr = w.st.EditDraft(context.Background(), id, 1, store.DraftEdit{Body: "Edited.\n"})
		}()
		go func() {
			defer wg.Done()
			<-start
			rev, approveErr = w.review(id, store.ReviewApprove, 1)
		}()
		close(start)
		wg.Wait()
		if editErr != nil {
			t.Fatalf("round %d: the edit failed: %v", round, editErr)
		}
		d, err := w.st.Draft(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		// Either order leaves version 2 waiting for approval: approve-then-
		// edit voided the approval; edit-then-approve refused version 1.
		if d.Version != 2 || d.State != outreach.DraftProposed || d.ApprovedVersion != nil {
			t.Fatalf("round %d: draft %s v%d approved %v (approve: %+v %v)", round, d.State, d.Version, d.ApprovedVersion, rev, approveErr)
		}
		if approveErr != nil && !outreach.IsKind(approveErr, outreach.KindConflict) {
			t.Fatalf("round %d: approve failed with %v, want success or a conflict", round, approveErr)
		}
	}
}

// The thread is checked again on approval: a reply that arrived after the
// proposal (not yet planned) makes the approval fail, with the reason.
func TestApprovalRefusedAfterReply(t *testing.T) {
	t.Parallel()
	w := newWorld(t, professor)
	_, id := w.proposed(professor)
	w.receive(day(8, 9), professor, "reply@med.example.edu", outreach.MessageHuman,
		`{"kind":"human","confidence":"certain"}`, "orig-"+professor)
	rev, err := w.review(id, store.ReviewApprove, 1)
	if err != nil {
		t.Fatal(err)
	}
	if rev.Refused == "" || rev.Draft.State != outreach.DraftSuperseded || rev.ThreadState != outreach.ThreadReplied {
		t.Fatalf("approval after a reply: %+v", rev)
	}
}

// Rejecting closes the thread as declined; a redraft proposes a fresh one.
func TestRejectAndRedraft(t *testing.T) {
	t.Parallel()
	w := newWorld(t, professor, "other@med.example.edu")
	thread, id := w.proposed(professor)
	rev, err := w.review(id, store.ReviewRedraft, 0)
	if err != nil || rev.NewDraftID == 0 || rev.ThreadState != outreach.ThreadDraftProposed {
		t.Fatalf("redraft: %+v %v", rev, err)
	}
	if got := w.draftStates(thread); !slices.Equal(got, []string{"rejected", "proposed"}) {
		t.Fatalf("drafts after a redraft %v", got)
	}
	rev, err = w.review(rev.NewDraftID, store.ReviewReject, 0)
	if err != nil || rev.ThreadState != outreach.ThreadClosedByUser {
		t.Fatalf("reject: %+v %v", rev, err)
	}
	th := w.wantState(professor, outreach.ThreadClosedByUser)
	if th.ClosedReason != "declined" {
		t.Fatalf("closed for %q, want declined", th.ClosedReason)
	}
	w.tick(day(30, 10))
	if n := len(w.draftStates(thread)); n != 2 {
		t.Fatalf("%d drafts after the rejection, want no new one", n)
	}
	if _, err := w.review(id, store.ReviewApprove, 0); !outreach.IsKind(err, outreach.KindConflict) {
		t.Fatalf("approving a rejected draft: %v", err)
	}
}
