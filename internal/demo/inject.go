package demo

import (
	"context"
	"fmt"
	"net/mail"
	"strings"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/imapsync"
)

// The kinds of message Inject can deliver.
const (
	KindReply  = "reply"  // a person answers
	KindOOO    = "ooo"    // an out-of-office with a return date
	KindBounce = "bounce" // the address does not exist
)

// Injection is a message to deliver to a running demo's INBOX.
type Injection struct {
	// From is a faculty member's address, or another address at their
	// institution (a coordinator, a colleague answering for them).
	From string
	Kind string // KindReply (default), KindOOO or KindBounce
	Text string // a reply's text [ReplyText]
}

// Injected says what was delivered.
type Injected struct {
	Faculty Faculty
	Kind    string
	Date    time.Time
	UID     uint32
}

// Inject delivers a message from a faculty member (or their institution)
// to the INBOX of the demo whose state file is at statePath, over IMAP
// APPEND, as a mail server would: the daemon's IDLE sees it arrive.
func Inject(ctx context.Context, statePath string, in Injection) (Injected, error) {
	st, err := ReadState(statePath)
	if err != nil {
		return Injected{}, err
	}
	if !processAlive(st.PID) {
		return Injected{}, outreach.Errorf(outreach.KindNotFound, "the demo that wrote %s (process %d) is not running", statePath, st.PID)
	}
	m, f, err := st.message(in, time.Now().Add(st.ClockOffset))
	if err != nil {
		return Injected{}, err
	}
	conn, err := imapsync.Dial(ctx, imapsync.Account{Host: st.IMAPHost, Port: st.IMAPPort, Security: "none",
		Username: st.Username, Password: st.Password, CommandTimeout: 20 * time.Second})
	if err != nil {
		return Injected{}, outreach.Errorf(outreach.KindUnavailable, "the demo's IMAP server: %w", err)
	}
	defer conn.Close()
	uid, err := conn.Append(ctx, "INBOX", m.Raw, m.Date)
	if err != nil {
		return Injected{}, outreach.Errorf(outreach.KindUnavailable, "deliver to the demo's INBOX: %w", err)
	}
	kind := in.Kind
	if kind == "" {
		kind = KindReply
	}
	return Injected{Faculty: f, Kind: kind, Date: m.Date, UID: uid}, nil
}

// message builds the injected message, dated now on the demo's clock.
func (st State) message(in Injection, now time.Time) (Mail, Faculty, error) {
	addr, err := mail.ParseAddress(in.From)
	if err != nil {
		return Mail{}, Faculty{}, outreach.Errorf(outreach.KindInvalid, "--from %q: %v", in.From, err)
	}
	f, ok := Story{Faculty: st.Faculty}.Find(addr.Address)
	if !ok {
		return Mail{}, Faculty{}, outreach.Errorf(outreach.KindInvalid,
			"%s is not one of the demo's faculty, nor at their institutions; try one of: %s", addr.Address, st.addresses())
	}
	from := f.Person
	if outreach.NormalizeAddress(addr.Address) != f.Email {
		from = Person{Name: addr.Name, Email: outreach.NormalizeAddress(addr.Address)}
	}
	var m Mail
	switch in.Kind {
	case "", KindReply:
		text := in.Text
		if text == "" {
			text = ReplyText + "\n" + from.Name
		}
		m, err = HumanReply(f, from, now, strings.TrimSpace(text))
	case KindOOO:
		m, err = AutoReply(f, now, returnDay(now, zone(f.Timezone)))
	case KindBounce:
		m, err = Bounce(f, now)
	default:
		return Mail{}, Faculty{}, outreach.Errorf(outreach.KindInvalid, "--kind %q: want %s, %s or %s", in.Kind, KindReply, KindOOO, KindBounce)
	}
	return m, f, err
}

func (st State) addresses() string {
	var out []string
	for _, f := range st.Faculty {
		out = append(out, f.Email)
	}
	return strings.Join(out, ", ")
}

// Describe says in a line what an injection delivered.
func (i Injected) Describe() string {
	what := map[string]string{KindReply: "a reply", KindOOO: "an out-of-office", KindBounce: "a bounce"}[i.Kind]
	return fmt.Sprintf("delivered %s to the demo's INBOX (UID %d) in %s's thread, %q", what, i.UID, i.Faculty.Name, i.Faculty.Subject)
}
