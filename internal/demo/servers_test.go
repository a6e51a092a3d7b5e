package demo

import (
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// The catcher takes mail only from the applicant, logged in, and keeps it.
func TestDemoCatcherTakesMail(t *testing.T) {
	heard := make(chan Caught, 1)
	c, err := startSMTP(func(m Caught) { heard <- m })
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	msg := "From: amaka.obi@example.com\r\nTo: e.petrova@thameside.example.org\r\nSubject: Re: hello\r\n\r\nHello.\r\n"
	if err := submit(c.addr.String(), "not-the-password", msg); err == nil {
		t.Fatal("a wrong password was accepted")
	}
	if err := submit(c.addr.String(), Password, msg); err != nil {
		t.Fatal(err)
	}
	got := <-heard
	if got.From != Applicant.Email || len(got.To) != 1 || !strings.Contains(string(got.Data), "Subject: Re: hello") {
		t.Fatalf("caught %+v", got)
	}
	if n := len(c.messages()); n != 1 {
		t.Fatalf("%d messages kept, want 1", n)
	}
}

// submit sends msg as the applicant over plain text (the catcher has no
// TLS; smtp.SendMail insists on STARTTLS).
func submit(addr, password, msg string) error {
	cl, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.Auth(sasl.NewPlainClient("", Applicant.Email, password)); err != nil {
		return err
	}
	return cl.SendMail(Applicant.Email, []string{"e.petrova@thameside.example.org"}, strings.NewReader(msg))
}
