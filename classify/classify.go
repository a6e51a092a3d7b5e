// Package classify decides what an incoming email is: a human reply, an
// auto-reply (vacation, challenge, ticket, "has left"), a bounce or delay,
// a read receipt, a complaint, list mail or another machine notice. It also
// extracts what the follow-up rules need: the return date of an absent
// person, bounce details, and the Message-IDs the message refers to, with
// the evidence for each decision.
//
// The package is pure: it reads only the bytes it is given, never the
// clock, the network or a file, mutates no globals, and bounds the work it
// does on any input. It must not decide what happens next to a thread;
// that belongs to package rules.
//
// The decision order follows Sisimai, Zammad and Discourse: report parts
// first (RFC 3464, 8098, 5965), then challenge-response systems, then
// plain-text bounces, then auto-replies (RFC 3834), then lists (RFC 2369,
// RFC 2919), and only then a human.
package classify

import (
	"fmt"
	"net/mail"
	"strings"
	"time"

	outreach "github.com/outreach/outreach"
)

// Result is what Classify says about one message.
type Result struct {
	Kind             outreach.MessageKind `json:"kind"`
	Reason           string               `json:"reason"`                // auto_reply: vacation|challenge|ticket|left|other; bounce/delay: user_unknown|mailbox_full|blocked|spam|expired|host_unknown|policy|too_large|other
	Permanent        bool                 `json:"permanent"`             // bounces: true for a hard failure
	ReturnDate       *Date                `json:"return_date"`           // first day the person is back
	NewAddress       string               `json:"new_address,omitempty"` // "left" auto-replies that name a new address
	FailedRecipients []string             `json:"failed_recipients"`     // lower-cased, never nil
	Status           string               `json:"status,omitempty"`      // enhanced status code, e.g. "5.1.1"
	RefersTo         []string             `json:"refers_to"`             // Message-IDs without <>, never nil
	Confidence       outreach.Confidence  `json:"confidence"`
	Evidence         []string             `json:"evidence"` // the rules that fired, in words, in order
}

// Auto-reply reasons.
const (
	ReasonVacation  = "vacation"
	ReasonChallenge = "challenge"
	ReasonTicket    = "ticket"
	ReasonLeft      = "left"
	ReasonOther     = "other"
)

// Bounce and delay reasons, after Sisimai's reason names.
const (
	ReasonUserUnknown = "user_unknown"
	ReasonMailboxFull = "mailbox_full"
	ReasonBlocked     = "blocked"
	ReasonSpam        = "spam"
	ReasonExpired     = "expired"
	ReasonHostUnknown = "host_unknown"
	ReasonPolicy      = "policy"
	ReasonTooLarge    = "too_large"
)

// Date is a calendar day without a time or zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// String formats d as "2006-01-02".
func (d Date) String() string {
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// MarshalJSON encodes d as a "YYYY-MM-DD" string; a nil *Date encodes as null.
func (d Date) MarshalJSON() ([]byte, error) {
	return []byte(`"` + d.String() + `"`), nil
}

// dateOf returns the calendar day of t in its own zone.
func dateOf(t time.Time) Date {
	return Date{Year: t.Year(), Month: t.Month(), Day: t.Day()}
}

// time returns midnight UTC of d, for arithmetic and comparison.
func (d Date) time() time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC)
}

// addDays returns d moved by n days.
func (d Date) addDays(n int) Date {
	return dateOf(d.time().AddDate(0, 0, n))
}

// rule inspects the facts and fills r when it recognises the message.
type rule func(f *facts, r *Result) bool

// decisionOrder lists the rules, first match wins. Challenges come first
// because some are wrapped as delivery reports (Boxbe); report parts come
// before auto-reply headers because real Google and Microsoft bounces
// carry Auto-Submitted.
var decisionOrder = []rule{challengeRule, reportRule, plainBounceRule, autoReplyRule, listRule, noticeRule}

// Classify reads one raw RFC 5322 message and says what it is. It never
// panics and examines at most a bounded prefix of the input.
func Classify(raw []byte) Result {
	f := newFacts(raw)
	r := Result{FailedRecipients: []string{}, RefersTo: []string{}, Evidence: []string{}}
	r.addRefs(f.threadRefs()...)
	matched := false
	for _, rl := range decisionOrder {
		if rl(f, &r) {
			matched = true
			break
		}
	}
	if !matched {
		humanRule(f, &r)
	}
	r.FailedRecipients = dedupe(r.FailedRecipients)
	r.RefersTo = dedupe(r.RefersTo)
	return r
}

// humanRule is the default: no machine signal fired.
func humanRule(f *facts, r *Result) {
	r.Kind = outreach.MessageHuman
	r.Confidence = outreach.Likely
	r.because("no report part, bounce, auto-reply or list signal: written by a person")
	if weak := f.weakMachineSignals(); len(weak) > 0 {
		r.Confidence = outreach.Unsure
		r.because("but weak machine signals: %s", strings.Join(weak, ", "))
	}
}

// because appends one piece of evidence.
func (r *Result) because(format string, args ...any) {
	r.Evidence = append(r.Evidence, fmt.Sprintf(format, args...))
}

// addRefs appends Message-IDs, stripped of angle brackets.
func (r *Result) addRefs(ids ...string) {
	for _, id := range ids {
		if id = cleanMessageID(id); id != "" {
			r.RefersTo = append(r.RefersTo, id)
		}
	}
}

// addRecipient appends a failed recipient, lower-cased, if it looks like one.
func (r *Result) addRecipient(addr string) {
	addr = cleanAddress(addr)
	if addr != "" && len(r.FailedRecipients) < 100 {
		r.FailedRecipients = append(r.FailedRecipients, addr)
	}
}

// cleanMessageID strips <> and whitespace from one Message-ID.
func cleanMessageID(id string) string {
	id = strings.TrimSpace(id)
	id = strings.TrimPrefix(id, "<")
	id = strings.TrimSuffix(id, ">")
	if id == "" || strings.ContainsAny(id, " \t<>") || len(id) > 998 {
		return ""
	}
	return id
}

// splitMessageIDs returns every <id> in a References-style field (RFC 5322
// section 3.6.4), or the bare value when it has no angle brackets.
func splitMessageIDs(v string) []string {
	var ids []string
	for {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			break
		}
		ids = append(ids, v[i+1:i+j])
		v = v[i+j+1:]
	}
	if len(ids) == 0 && strings.TrimSpace(v) != "" && !strings.ContainsAny(strings.TrimSpace(v), " \t") {
		ids = append(ids, v)
	}
	return ids
}

// cleanAddress lower-cases an address and drops "rfc822;" type prefixes,
// angle brackets and quotes; it returns "" for what is not an address.
func cleanAddress(a string) string {
	if i := strings.IndexByte(a, ';'); i >= 0 {
		a = a[i+1:]
	}
	a = strings.Trim(strings.TrimSpace(a), "<>\"'().,:[]")
	if at := strings.LastIndexByte(a, '@'); at <= 0 || at == len(a)-1 || strings.ContainsAny(a, " \t<>") {
		return ""
	}
	return strings.ToLower(a)
}

func dedupe(xs []string) []string {
	seen := make(map[string]bool, len(xs))
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// parseAddress returns the lower-cased address and display name of an
// address header, tolerating values net/mail rejects.
func parseAddress(v string) (addr, name string) {
	if a, err := mail.ParseAddress(v); err == nil {
		return strings.ToLower(a.Address), a.Name
	}
	if i, j := strings.LastIndexByte(v, '<'), strings.LastIndexByte(v, '>'); i >= 0 && j > i {
		return cleanAddress(v[i+1 : j]), strings.Trim(strings.TrimSpace(v[:i]), `"`)
	}
	for _, w := range strings.Fields(v) {
		if a := cleanAddress(w); a != "" {
			return a, strings.TrimSpace(strings.Replace(v, w, "", 1))
		}
	}
	return "", strings.TrimSpace(v)
}
