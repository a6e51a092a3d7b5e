package rules

import (
	"fmt"
	"slices"
	"strings"
	"time"

	outreach "github.com/outreach/outreach"
)

// SubjectMatchWindow bounds rule 3: a subject-and-domain match counts only
// within this long after the thread's last outbound message.
const SubjectMatchWindow = 60 * 24 * time.Hour

// Candidate is a thread a message might belong to, with what the threading
// rules need to know of it.
type Candidate struct {
	ThreadID          int64
	ContactID         int64
	ContactAddresses  []string // every address of the contact, lower-cased
	NormalizedSubject string
	Open              bool      // the conversation has not been closed
	LastOutboundAt    time.Time // our last message in it
}

// ThreadingInput is one stored message and what the database knows around it.
type ThreadingInput struct {
	From     string // lower-cased
	To, Cc   []string
	Subject  string
	Date     time.Time
	Kind     outreach.MessageKind
	RefersTo []string // Message-IDs the message answers or reports on (classify.Result.RefersTo)
	// Own lists the applicant's addresses: their messages are touches, never replies.
	Own []string
	// ThreadOf maps each Message-ID in RefersTo that we hold to its thread.
	ThreadOf map[string]int64
	// Candidates are the threads of the contacts the message is from or to,
	// and of contacts in the sender's domain.
	Candidates []Candidate
}

// Attachment is the threading decision for one message.
type Attachment struct {
	ThreadID   int64
	ContactID  int64
	Rule       string // refers_to, contact_address, subject_domain, own_touch, none
	Confidence outreach.Confidence
	Evidence   string
	// Touch marks the applicant's own message (from any client): counted
	// as contact, never as a reply.
	Touch bool
	// NewThread asks for a new thread: our first email to a contact with no
	// open conversation. ContactID names the contact.
	NewThread bool
	// RelatedAddress is a sender on the contact's side that is not one of
	// the contact's addresses (a coordinator, a personal address): record it.
	RelatedAddress string
}

// Attach decides which thread a message belongs to, in the order of issue
// 4: (1) a Message-ID it refers to belongs to a thread; (2) the sender is
// one of a contact's addresses and that contact has an open thread; (3) the
// normalised subject equals an open thread's and the sender's domain is the
// contact's, within SubjectMatchWindow (likely, not certain). A message from
// the applicant's own address is never a reply.
func Attach(in ThreadingInput) Attachment {
	if slices.Contains(in.Own, in.From) {
		return attachTouch(in)
	}
	if a, ok := byReference(in); ok {
		if c, found := candidate(in, a.ThreadID); found && !slices.Contains(c.ContactAddresses, in.From) &&
			in.Kind == outreach.MessageHuman {
			a.RelatedAddress = in.From
		}
		return a
	}
	if c, ok := openThreadOf(in.Candidates, in.From); ok {
		return Attachment{ThreadID: c.ThreadID, ContactID: c.ContactID, Rule: "contact_address",
			Confidence: outreach.Certain, Evidence: fmt.Sprintf("sender %s is an address of contact %d", in.From, c.ContactID)}
	}
	if c, ok := bySubjectAndDomain(in); ok {
		a := Attachment{ThreadID: c.ThreadID, ContactID: c.ContactID, Rule: "subject_domain", Confidence: outreach.Likely,
			Evidence: fmt.Sprintf("subject %q and domain %s match thread %d", NormalizeSubject(in.Subject), domain(in.From), c.ThreadID)}
		if in.Kind == outreach.MessageHuman {
			a.RelatedAddress = in.From
		}
		return a
	}
	return Attachment{Rule: "none", Confidence: outreach.Certain, Evidence: "no thread refers to it, and its sender is no contact's"}
}

// attachTouch threads the applicant's own message: by reference, else to the
// open thread of the contact it was sent to, else as the start of one.
func attachTouch(in ThreadingInput) Attachment {
	if a, ok := byReference(in); ok {
		a.Touch, a.Rule = true, "own_touch"
		a.Evidence = "our own message in the thread: " + a.Evidence
		return a
	}
	for _, to := range append(slices.Clone(in.To), in.Cc...) {
		if c, ok := openThreadOf(in.Candidates, to); ok {
			return Attachment{ThreadID: c.ThreadID, ContactID: c.ContactID, Rule: "own_touch", Touch: true,
				Confidence: outreach.Certain, Evidence: fmt.Sprintf("our own message to %s, contact %d", to, c.ContactID)}
		}
	}
	for _, to := range in.To {
		for _, c := range in.Candidates {
			if slices.Contains(c.ContactAddresses, to) {
				return Attachment{ContactID: c.ContactID, Rule: "own_touch", Touch: true, NewThread: true,
					Confidence: outreach.Certain, Evidence: fmt.Sprintf("our first email to %s, contact %d", to, c.ContactID)}
			}
		}
	}
	return Attachment{Rule: "own_touch", Touch: true, Confidence: outreach.Certain, Evidence: "our own message to no contact"}
}

func byReference(in ThreadingInput) (Attachment, bool) {
	for _, id := range in.RefersTo {
		if t := in.ThreadOf[id]; t != 0 {
			a := Attachment{ThreadID: t, Rule: "refers_to", Confidence: outreach.Certain,
				Evidence: fmt.Sprintf("refers to <%s>, a message of thread %d", id, t)}
			if c, ok := candidate(in, t); ok {
				a.ContactID = c.ContactID
			}
			return a, true
		}
	}
	return Attachment{}, false
}

func candidate(in ThreadingInput, threadID int64) (Candidate, bool) {
	for _, c := range in.Candidates {
		if c.ThreadID == threadID {
			return c, true
		}
	}
	return Candidate{}, false
}

// openThreadOf returns the most recent open thread of the contact that has addr.
func openThreadOf(cands []Candidate, addr string) (Candidate, bool) {
	var best Candidate
	found := false
	for _, c := range cands {
		if c.Open && slices.Contains(c.ContactAddresses, addr) && (!found || c.LastOutboundAt.After(best.LastOutboundAt)) {
			best, found = c, true
		}
	}
	return best, found
}

func bySubjectAndDomain(in ThreadingInput) (Candidate, bool) {
	subj, dom := NormalizeSubject(in.Subject), domain(in.From)
	if subj == "" || dom == "" {
		return Candidate{}, false
	}
	for _, c := range in.Candidates {
		if !c.Open || c.NormalizedSubject != subj || in.Date.Sub(c.LastOutboundAt) > SubjectMatchWindow {
			continue
		}
		for _, a := range c.ContactAddresses {
			if domain(a) == dom {
				return c, true
			}
		}
	}
	return Candidate{}, false
}

func domain(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.ToLower(addr[i+1:])
	}
	return ""
}
