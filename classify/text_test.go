package classify

import (
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, raw, want string }{
		{"quoted-printable latin-1", "Subject: x\r\nContent-Type: text/plain; charset=iso-8859-1\r\n" +
			"Content-Transfer-Encoding: quoted-printable\r\n\r\nDear Dr. M=FCller,\r\nI read your paper.\r\n", "Dear Dr. Müller,\nI read your paper."},
		{"html only", "Subject: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Dear Dr. Chen,</p><p>I read <b>your</b> paper.</p>",
			"Dear Dr. Chen,"},
		{"plain preferred over html", "Subject: x\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n" +
			"Content-Type: text/plain\r\n\r\nplain words\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>html words</p>\r\n--b--\r\n", "plain words"},
	}
	for _, c := range cases {
		got := Text([]byte(c.raw))
		if !strings.Contains(strings.ReplaceAll(got, "\r\n", "\n"), c.want) {
			t.Errorf("%s: Text = %q, want it to contain %q", c.name, got, c.want)
		}
	}
	if strings.Contains(Text([]byte("Subject: x\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n"+
		"Content-Type: text/plain\r\n\r\nplain words\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>html words</p>\r\n--b--\r\n")), "html words") {
		t.Error("Text took the HTML part although a plain one exists")
	}
}
