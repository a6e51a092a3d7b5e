package mailer

import (
	"bytes"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	outreach "github.com/outreach/outreach"
)

// Message is one follow-up to build: a personal reply in an existing
// conversation. Message-IDs are given without angle brackets, as the
// database stores them.
type Message struct {
	MessageID  string    // our own, generated and stored before sending
	Date       time.Time // when it is handed to SMTP, in the sender's zone
	From       string
	FromName   string
	To         string
	ToName     string
	Subject    string
	InReplyTo  string   // the message it answers
	References []string // the conversation, oldest first
	Body       string   // plain text
}

// Build renders the message as RFC 5322 bytes with CRLF line ends: our
// Message-ID, Date, From and To with display names, a "Re:" Subject,
// In-Reply-To and References (RFC 5322 section 3.6.4), non-ASCII header
// text as RFC 2047 encoded words, and the body as text/plain; charset=UTF-8
// in quoted-printable (RFC 2045), so the message is 7-bit clean.
//
// It is a personal email: no Auto-Submitted (RFC 3834), no Precedence, no
// User-Agent or X-Mailer naming a library.
func Build(m Message) ([]byte, error) {
	id := bareID(m.MessageID)
	if err := checkMsgID(id); err != nil {
		return nil, outreach.Errorf(outreach.KindInvalid, "Message-ID %q: %w", m.MessageID, err)
	}
	if m.Date.IsZero() {
		return nil, outreach.Errorf(outreach.KindInvalid, "message %s has no date", id)
	}
	from, err := address(m.FromName, m.From)
	if err != nil {
		return nil, outreach.Errorf(outreach.KindInvalid, "From %q: %w", m.From, err)
	}
	to, err := address(m.ToName, m.To)
	if err != nil {
		return nil, outreach.Errorf(outreach.KindInvalid, "To %q: %w", m.To, err)
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.SetMessageIDWithValue(id)
	msg.SetDateWithValue(m.Date)
	msg.SetAddrHeaderFromMailAddress(gomail.HeaderFrom, from)
	msg.SetAddrHeaderFromMailAddress(gomail.HeaderTo, to)
	msg.Subject(ReplySubject(m.Subject))
	if parent := bareID(m.InReplyTo); parent != "" {
		msg.SetGenHeader(gomail.HeaderInReplyTo, "<"+parent+">")
	}
	if refs := References(m.References, m.InReplyTo); len(refs) > 0 {
		msg.SetGenHeader(gomail.HeaderReferences, "<"+strings.Join(refs, "> <")+">")
	}
	msg.SetBodyString(gomail.TypeTextPlain, normalizeNewlines(m.Body))
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("render message %s: %w", id, err)
	}
	return buf.Bytes(), nil
}

// ReplySubject puts exactly one "Re: " before a subject (RFC 5322 section
// 3.6.5); a subject that already starts with "Re:" in any case is kept.
func ReplySubject(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 3 && strings.EqualFold(s[:3], "re:") {
		return "Re: " + strings.TrimSpace(s[3:])
	}
	return "Re: " + s
}

// References is the References chain to send (RFC 5322 section 3.6.4): the
// given ids without brackets, each once, in order, ending with the parent.
func References(refs []string, parent string) []string {
	var out []string
	seen := map[string]bool{}
	parent = bareID(parent)
	for _, r := range append(append([]string(nil), refs...), parent) {
		r = bareID(r)
		if r == "" || seen[r] || checkMsgID(r) != nil {
			continue
		}
		seen[r] = true
		out = append(out, r)
	}
	if parent != "" && seen[parent] && out[len(out)-1] != parent {
		// The parent comes last, wherever the stored chain had it.
		out = append(removeID(out, parent), parent)
	}
	return out
}

func removeID(list []string, id string) []string {
	out := list[:0:0]
	for _, x := range list {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

func bareID(id string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(id), "<"), ">")
}

// checkMsgID accepts a msg-id's content: id-left "@" id-right, printable
// ASCII without white space or angle brackets (RFC 5322 section 3.6.4).
func checkMsgID(id string) error {
	if id == "" {
		return errors.New("empty")
	}
	for _, c := range id {
		if c <= ' ' || c >= 0x7f || c == '<' || c == '>' {
			return fmt.Errorf("character %q not allowed", c)
		}
	}
	if i := strings.LastIndexByte(id, '@'); i <= 0 || i == len(id)-1 {
		return errors.New("want left@right")
	}
	return nil
}

// address parses one bare address and pairs it with a display name, which
// net/mail quotes or encodes (RFC 2047) as the header needs.
func address(name, addr string) (*mail.Address, error) {
	a, err := mail.ParseAddress(strings.TrimSpace(addr))
	if err != nil {
		return nil, err
	}
	if a.Name != "" || strings.ContainsAny(addr, "<>") {
		return nil, errors.New("want a bare address; the display name is given apart")
	}
	a.Name = strings.Join(strings.Fields(name), " ")
	return a, nil
}

// normalizeNewlines makes every line end LF: the encoder writes CRLF.
func normalizeNewlines(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}
