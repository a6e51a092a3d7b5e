package daemon

import (
	"context"

	"github.com/outreach/outreach/rules"
	"github.com/outreach/outreach/store"
)

// AttachPending attaches every stored message that waits for a thread,
// deciding with rules.Attach. It is safe to run in several processes.
func AttachPending(ctx context.Context, st *store.Store) (int, error) {
	total := 0
	for {
		n, err := st.AttachPending(ctx, 500, decideAttachment)
		total += n
		if err != nil || n < 500 {
			return total, err
		}
	}
}

// decideAttachment adapts the store's view of a message to rules.Attach.
func decideAttachment(m store.PendingMessage, f store.ThreadingFacts) store.Attachment {
	in := rules.ThreadingInput{From: m.From, To: m.To, Cc: m.Cc, Subject: m.Subject, Date: m.Date, Kind: m.Kind,
		RefersTo: m.RefersTo, Own: f.Own, ThreadOf: f.ThreadOf}
	for _, c := range f.Candidates {
		in.Candidates = append(in.Candidates, rules.Candidate{ThreadID: c.ThreadID, ContactID: c.ContactID,
			ContactAddresses: c.ContactAddresses, NormalizedSubject: c.NormalizedSubject, Open: c.Open,
			LastOutboundAt: c.LastOutboundAt})
	}
	a := rules.Attach(in)
	return store.Attachment{ThreadID: a.ThreadID, ContactID: a.ContactID, NewThread: a.NewThread,
		NormalizedSubject: rules.NormalizeSubject(m.Subject), Touch: a.Touch, RelatedAddress: a.RelatedAddress,
		Rule: a.Rule, Confidence: a.Confidence, Evidence: a.Evidence}
}
