package mailer

import (
	"bytes"
	"flag"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// followUp is a follow-up with everything that needs encoding: accents in
// both names and the subject, a non-Latin script, a long body line.
func followUp() Message {
	return Message{
		MessageID: "outreach.abc123@example.org",
		Date:      time.Date(2026, 11, 10, 10, 0, 0, 0, time.FixedZone("WAT", 3600)),
		From:      "amaka.obi@example.org", FromName: "Amaka Ọbị",
		To: "chen@med.example.edu", ToName: "Wei Chén",
		Subject:    "Research opportunity in pediatric urology – 研究",
		InReplyTo:  "first@example.org",
		References: []string{"<root@example.org>", "first@example.org"},
		Body: "Dear Dr. Chén,\n\nI am following up on my email of 2 November about research opportunities in your " +
			"group; I would be glad to help with the robotic prostatectomy outcomes database.\n\nWith best regards,\nAmaka Ọbị\n",
	}
}

func TestBuildGolden(t *testing.T) {
	got, err := Build(followUp())
	if err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/followup.golden"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Build output differs from %s (run with -update after checking):\n%s", golden, got)
	}
}

// The built message parses back to what was asked: threading headers with
// angle brackets, the parent last in References, decoded names and
// subject, a 7-bit message with short lines, and the body intact.
func TestBuildParsesBack(t *testing.T) {
	m := followUp()
	raw, err := Build(m)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(h.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	from, err := h.AddressList("From")
	if err != nil {
		t.Fatal(err)
	}
	to, err := h.AddressList("To")
	if err != nil {
		t.Fatal(err)
	}
	date, err := h.Date()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, got, want string }{
		{"Message-ID", h.Get("Message-Id"), "<outreach.abc123@example.org>"},
		{"In-Reply-To", h.Get("In-Reply-To"), "<first@example.org>"},
		{"References", strings.Join(strings.Fields(h.Get("References")), " "), "<root@example.org> <first@example.org>"},
		{"Subject", subject, "Re: " + m.Subject},
		{"From", from[0].String(), (&mail.Address{Name: "Amaka Ọbị", Address: m.From}).String()},
		{"To", to[0].String(), (&mail.Address{Name: "Wei Chén", Address: m.To}).String()},
		{"Date", date.Format(time.RFC3339), "2026-11-10T10:00:00+01:00"},
		{"Content-Type", h.Get("Content-Type"), "text/plain; charset=UTF-8"},
		{"Content-Transfer-Encoding", h.Get("Content-Transfer-Encoding"), "quoted-printable"},
		{"MIME-Version", h.Get("Mime-Version"), "1.0"},
		{"Auto-Submitted", h.Get("Auto-Submitted"), ""},
		{"Precedence", h.Get("Precedence"), ""},
		{"User-Agent", h.Get("User-Agent") + h.Get("X-Mailer"), ""},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.ReplaceAll(string(body), "\r\n", "\n"); got != m.Body {
		t.Errorf("body = %q, want %q", got, m.Body)
	}
	for i, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 78 {
			t.Errorf("line %d is %d characters (RFC 5322 section 2.1.1: 78): %q", i+1, len(line), line)
		}
		for _, c := range []byte(line) {
			if c >= 0x80 || c == '\r' || c == '\n' {
				t.Fatalf("line %d is not 7-bit text with CRLF endings: %q", i+1, line)
			}
		}
	}
}

func TestBuildRefusesBadInput(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(*Message)
	}{
		{"no Message-ID", func(m *Message) { m.MessageID = "" }},
		{"Message-ID without @", func(m *Message) { m.MessageID = "abc" }},
		{"Message-ID with a space", func(m *Message) { m.MessageID = "a b@example.org" }},
		{"no date", func(m *Message) { m.Date = time.Time{} }},
		{"bad To", func(m *Message) { m.To = "not an address" }},
		{"To with a name inside", func(m *Message) { m.To = "Wei <chen@med.example.edu>" }},
		{"header injection in To", func(m *Message) { m.To = "chen@med.example.edu\r\nBcc: x@example.org" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := followUp()
			c.change(&m)
			if _, err := Build(m); err == nil {
				t.Fatal("built")
			}
		})
	}
}

func TestReplySubjectAndReferences(t *testing.T) {
	for in, want := range map[string]string{
		"Research":           "Re: Research",
		"Re: Research":       "Re: Research",
		"RE:Research":        "Re: Research",
		"  re:   Research  ": "Re: Research",
		"":                   "Re: ",
	} {
		if got := ReplySubject(in); got != want {
			t.Errorf("ReplySubject(%q) = %q, want %q", in, got, want)
		}
	}
	for _, c := range []struct {
		refs   []string
		parent string
		want   string
	}{
		{nil, "p@x", "p@x"},
		{[]string{"a@x", "<b@x>"}, "b@x", "a@x b@x"},
		{[]string{"p@x", "a@x"}, "p@x", "a@x p@x"},
		{[]string{"a@x", "a@x", "bad id", ""}, "", "a@x"},
	} {
		if got := strings.Join(References(c.refs, c.parent), " "); got != c.want {
			t.Errorf("References(%q, %q) = %q, want %q", c.refs, c.parent, got, c.want)
		}
	}
}
