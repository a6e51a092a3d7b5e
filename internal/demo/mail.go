package demo

import (
	"bytes"
	"embed"
	"fmt"
	"net/mail"
	"strings"
	"text/template"
	"time"
)

// The story's messages are text templates shaped like what real clients
// and servers write: a plain letter (Thunderbird, Apple Mail, Outlook), a
// Microsoft 365 automatic reply (RFC 3834 Auto-Submitted) and a Postfix
// delivery status notification (RFC 3464 in an RFC 6522 report).
//
//go:embed story/*.eml
var storyFiles embed.FS

var mailTemplates = template.Must(template.ParseFS(storyFiles, "story/*.eml"))

// letter is a message written by a person.
type letter struct {
	From, To, Cc string
	Subject      string
	Date         string
	MessageID    string
	InReplyTo    string // the Message-ID answered, without <>; "" for a first email
	Agent        string
	Body         string
}

// render executes one template and gives the message CRLF line ends
// (RFC 5322 section 2.1), as IMAP servers store it.
func render(name string, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := mailTemplates.ExecuteTemplate(&b, name, data); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return bytes.ReplaceAll(b.Bytes(), []byte("\n"), []byte("\r\n")), nil
}

func address(p Person) string { return (&mail.Address{Name: p.Name, Address: p.Email}).String() }

func mailDate(t time.Time) string { return t.Format(time.RFC1123Z) }

// salutation is "Professor" for a professor's title, else "Dr.", as the
// built-in follow-up template writes it.
func salutation(f Faculty) string {
	if strings.HasPrefix(strings.ToLower(f.Title), "professor") {
		return "Professor " + f.LastName
	}
	return "Dr. " + f.LastName
}

// firstBody is the applicant's first email: short, specific, one ask.
func firstBody(f Faculty) string {
	return wrap(fmt.Sprintf(`Dear %s,

My name is Amaka Obi. I graduated in medicine from the University of Lagos, Nigeria, and I am applying for urology residency in the United States this cycle.

I read your paper "%s" with great interest. %s

I have attached my CV, and I would be grateful for any advice.

Kind regards,
Amaka Obi, MBBS`, salutation(f), f.Paper, f.Ask))
}

func firstEmail(f Faculty, at time.Time) (Mail, error) {
	raw, err := render("letter.eml", letter{From: address(Applicant), To: address(f.Person), Subject: f.Subject,
		Date: mailDate(at), MessageID: f.FirstMessageID, Agent: "Mozilla Thunderbird", Body: firstBody(f)})
	return Mail{Mailbox: "Sent", Date: at, Raw: raw}, err
}

// followUpByHand is the applicant's own follow-up, written before Outreach.
func followUpByHand(f Faculty, at time.Time) (Mail, error) {
	body := wrap(fmt.Sprintf(`Dear %s,

I am writing once more about my email below, in case it was missed. I would still be very glad to observe in your clinic, at any time that suits you.

Kind regards,
Amaka Obi`, salutation(f))) + quote(Applicant, f.FirstSent, firstBody(f))
	raw, err := render("letter.eml", letter{From: address(Applicant), To: address(f.Person), Subject: "Re: " + f.Subject,
		Date: mailDate(at), MessageID: fmt.Sprintf("demo.%s.2@mail.example.com", strings.ToLower(f.LastName)),
		InReplyTo: f.FirstMessageID, Agent: "Mozilla Thunderbird", Body: body})
	return Mail{Mailbox: "Sent", Date: at, Raw: raw}, err
}

// HumanReply is a reply from a person at f's institution (f, or whoever
// answers for them) to the applicant's first email, dated at.
func HumanReply(f Faculty, from Person, at time.Time, text string) (Mail, error) {
	raw, err := render("letter.eml", letter{From: address(from), To: address(Applicant), Subject: "Re: " + f.Subject,
		Date: mailDate(at), MessageID: messageID(f, "reply", at), InReplyTo: f.FirstMessageID,
		Agent: "Apple Mail (2.3774.600.62)", Body: wrap(text) + quote(Applicant, f.FirstSent, firstBody(f))})
	return Mail{Mailbox: "INBOX", Date: at, Raw: raw}, err
}

// coordinatorReply answers a forwarded copy of the first email: the
// coordinator never saw the original, so nothing refers to it; the subject
// and the institution's domain tie it to the thread, and the professor is
// copied.
func coordinatorReply(f Faculty, at time.Time) (Mail, error) {
	raw, err := render("letter.eml", letter{From: address(coordinatorOf), To: address(Applicant),
		Cc: address(f.Person), Subject: "RE: FW: " + f.Subject, Date: mailDate(at),
		MessageID: messageID(f, "coordinator", at), Agent: "Microsoft Outlook 16.0", Body: coordinatorText})
	return Mail{Mailbox: "INBOX", Date: at, Raw: raw}, err
}

// AutoReply is f's out-of-office answer to the first email, back on the
// day back names.
func AutoReply(f Faculty, at, back time.Time) (Mail, error) {
	raw, err := render("autoreply.eml", struct {
		letter
		FromAddress, Return string
	}{letter{From: address(f.Person), To: address(Applicant), Subject: f.Subject, Date: mailDate(at),
		MessageID: messageID(f, "auto", at), InReplyTo: f.FirstMessageID}, f.Email, back.Format("Monday, January 2")})
	return Mail{Mailbox: "INBOX", Date: at, Raw: raw}, err
}

// Bounce is the applicant's provider reporting that f's address does not
// exist (RFC 3464 status 5.1.1), with the first email's header.
func Bounce(f Faculty, at time.Time) (Mail, error) {
	raw, err := render("bounce.eml", map[string]string{
		"Date": mailDate(at), "MTA": "smtp.mail.example.com", "To": Applicant.Email,
		"MessageID": messageID(f, "dsn", at), "Boundary": "DSN." + fmt.Sprint(at.Unix()) + "/smtp.mail.example.com",
		"Recipient": f.Email, "RecipientDomain": f.Domain(), "OriginalFrom": address(Applicant),
		"OriginalSubject": f.Subject, "OriginalDate": mailDate(at.Add(-time.Minute)),
		"OriginalMessageID": f.FirstMessageID,
	})
	return Mail{Mailbox: "INBOX", Date: at, Raw: raw}, err
}

// messageID is stable for the story's messages (their dates are fixed
// relative to the story's now) and distinct for injected ones.
func messageID(f Faculty, kind string, at time.Time) string {
	return fmt.Sprintf("demo.%s.%s.%d@%s", strings.ToLower(f.LastName), kind, at.Unix(), f.Domain())
}

// quote is the original below a reply, as clients write it.
func quote(who Person, at time.Time, body string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n\nOn %s, %s <%s> wrote:\n", at.Format("Mon, Jan 2, 2006"), who.Name, who.Email)
	for _, line := range strings.Split(body, "\n") {
		b.WriteString(strings.TrimRight("> "+line, " ") + "\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// wrap breaks each paragraph's long lines at 72 columns (RFC 5322 section
// 2.1.1 asks for at most 78).
func wrap(text string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		for len(line) > 72 {
			cut := strings.LastIndexByte(line[:73], ' ')
			if cut <= 0 {
				break
			}
			out = append(out, line[:cut])
			line = line[cut+1:]
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}
