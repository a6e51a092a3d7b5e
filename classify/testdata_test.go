package classify

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	outreach "github.com/outreach/outreach"
)

// TestTestdata covers what the shared corpus lacks: vendor vacation
// replies, return dates in six languages, tickets, "has left" notices,
// threaded and unthreaded human replies, charsets and broken MIME.
func TestTestdata(t *testing.T) {
	tests := []struct {
		name       string
		kind       outreach.MessageKind
		reason     string
		returnDate string   // "" asserts no return date
		refersTo   []string // nil: not asserted
		newAddress string
		subject    string // decoded subject, "" when not asserted
		confidence outreach.Confidence
		recipients []string
	}{
		{name: "gmail-vacation", kind: outreach.MessageAutoReply, reason: ReasonVacation, returnDate: "2025-03-15",
			refersTo: []string{"20250303170501.4411.outreach@example.org"}, confidence: outreach.Certain},
		{name: "zimbra-vacation", kind: outreach.MessageAutoReply, reason: ReasonVacation, returnDate: "2025-04-22",
			refersTo: []string{"20250414115901.77.outreach@example.org"}},
		{name: "en-gb-annual-leave", kind: outreach.MessageAutoReply, reason: ReasonVacation, returnDate: "2025-08-06"},
		{name: "de-ab-wieder", kind: outreach.MessageAutoReply, reason: ReasonVacation, returnDate: "2025-08-18"},
		{name: "de-bis-einschliesslich", kind: outreach.MessageAutoReply, reason: ReasonVacation, returnDate: "2026-03-04",
			subject: "Automatische Antwort: Anfrage Hospitation"},
		{name: "fr-de-retour", kind: outreach.MessageAutoReply, reason: ReasonVacation, returnDate: "2025-09-02",
			subject: "Réponse automatique : Demande de stage d'observation"},
		{name: "es-hasta", kind: outreach.MessageAutoReply, reason: ReasonVacation, returnDate: "2026-01-08",
			subject: "Respuesta automática: Consulta sobre rotación clínica"},
		{name: "pt-retorno", kind: outreach.MessageAutoReply, reason: ReasonVacation, returnDate: "2026-02-03",
			subject: "Resposta automática: Estágio de observação"},
		{name: "it-fino-al", kind: outreach.MessageAutoReply, reason: ReasonVacation, returnDate: "2025-04-13"},
		{name: "raw-8bit-header", kind: outreach.MessageAutoReply, reason: ReasonVacation, returnDate: "2025-09-23",
			subject: "Réponse automatique : Candidature stage"},
		{name: "m365-ooo", kind: outreach.MessageAutoReply, reason: ReasonVacation, returnDate: "2025-06-17",
			refersTo: []string{"20250609140002.55.outreach@example.org"}, confidence: outreach.Certain},
		{name: "ticket-ack", kind: outreach.MessageAutoReply, reason: ReasonTicket,
			refersTo: []string{"20250306180101.12.outreach@example.org"}},
		{name: "ticket-case-number", kind: outreach.MessageAutoReply, reason: ReasonTicket},
		{name: "left-new-address", kind: outreach.MessageAutoReply, reason: ReasonLeft,
			newAddress: "samuel.ortiz@newhospital.example.org"},
		{name: "human-threaded", kind: outreach.MessageHuman, refersTo: []string{
			"20250310150001.9.outreach@example.org", "20250301120000.1.outreach@example.org"}},
		{name: "human-unthreaded", kind: outreach.MessageHuman, refersTo: []string{}, confidence: outreach.Likely},
		{name: "human-was-out-of-office", kind: outreach.MessageHuman,
			refersTo: []string{"20250428010000.3.outreach@example.org"}},
		{name: "human-crlf-base64", kind: outreach.MessageHuman, subject: "Re: Estágio de observação em pediatria",
			refersTo: []string{"20250318100000.5.outreach@example.org"}},
		{name: "human-unclosed-multipart", kind: outreach.MessageHuman,
			refersTo: []string{"20250319120000.8.outreach@example.org"}},
		{name: "human-vacation-subject", kind: outreach.MessageHuman,
			refersTo: []string{"20250623120000.4.outreach@example.org"}},
		{name: "precedence-bulk-only", kind: outreach.MessageHuman, confidence: outreach.Unsure},
		// A newsletter marked auto-generated, without auto-reply wording, is
		// list mail, not an auto-reply.
		{name: "newsletter-auto-generated", kind: outreach.MessageList, refersTo: []string{}, confidence: outreach.Certain},
		{name: "broken-boundary-bounce", kind: outreach.MessageBounce, reason: ReasonUserUnknown,
			recipients: []string{"k.owens@example.edu"}, refersTo: []string{"20250311074400.2.outreach@example.org"}},
		{name: "subject-iso-2022-jp", kind: outreach.MessageAutoReply, subject: "自動応答: 研究室訪問のお願い"},
		{name: "subject-gb2312", kind: outreach.MessageAutoReply, subject: "自动回复: 关于临床观摩的询问"},
		{name: "subject-gbk", kind: outreach.MessageAutoReply, subject: "自动回复：关于临床观摩"},
		{name: "subject-koi8-r", kind: outreach.MessageAutoReply, subject: "Автоответ: стажировка"},
		{name: "subject-windows-1252", kind: outreach.MessageAutoReply, subject: "Réponse automatique : “stage d’été”"},
		{name: "subject-iso-8859-1", kind: outreach.MessageAutoReply, subject: "Abwesenheitsnotiz: Anfrage für Famulatur"},
		{name: "subject-utf-8", kind: outreach.MessageAutoReply, subject: "Respuesta automática: rotación clínica"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", tc.name+".eml"))
			if err != nil {
				t.Fatal(err)
			}
			got := Classify(raw)
			checkInvariants(t, tc.name, got)
			if got.Kind != tc.kind || tc.reason != "" && got.Reason != tc.reason {
				t.Errorf("kind/reason = %s/%s, want %s/%s (%v)", got.Kind, got.Reason, tc.kind, tc.reason, got.Evidence)
			}
			if gotDate := dateString(got.ReturnDate); gotDate != tc.returnDate {
				t.Errorf("return date = %q, want %q (%v)", gotDate, tc.returnDate, got.Evidence)
			}
			if tc.refersTo != nil && !slices.Equal(got.RefersTo, tc.refersTo) {
				t.Errorf("refers_to = %q, want %q", got.RefersTo, tc.refersTo)
			}
			if got.NewAddress != tc.newAddress {
				t.Errorf("new address = %q, want %q", got.NewAddress, tc.newAddress)
			}
			if tc.confidence != "" && got.Confidence != tc.confidence {
				t.Errorf("confidence = %s, want %s (%v)", got.Confidence, tc.confidence, got.Evidence)
			}
			if tc.recipients != nil && !slices.Equal(got.FailedRecipients, tc.recipients) {
				t.Errorf("failed recipients = %q, want %q", got.FailedRecipients, tc.recipients)
			}
			if s := newFacts(raw).subject; tc.subject != "" && s != tc.subject {
				t.Errorf("subject = %q, want %q", s, tc.subject)
			}
		})
	}
}

func dateString(d *Date) string {
	if d == nil {
		return ""
	}
	return d.String()
}

// TestResultJSON checks the wire form: dates as "YYYY-MM-DD" or null,
// slices as [] never null.
func TestResultJSON(t *testing.T) {
	tests := []struct {
		name string
		date *Date
		want string
	}{
		{name: "no date", date: nil, want: `"return_date":null`},
		{name: "date", date: &Date{Year: 2025, Month: 3, Day: 5}, want: `"return_date":"2025-03-05"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Classify([]byte("From: a@example.org\r\n\r\nhello\r\n"))
			r.ReturnDate = tc.date
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{tc.want, `"failed_recipients":[]`, `"refers_to":[]`, `"kind":"human"`} {
				if !strings.Contains(string(b), want) {
					t.Errorf("JSON %s lacks %s", b, want)
				}
			}
		})
	}
}

// TestReturnDateResolution checks year inference and day/month order
// against the message date, without a clock.
func TestReturnDateResolution(t *testing.T) {
	tests := []struct {
		name, from, date, body, want string
	}{
		{"year rolls over", "a@example.edu", "Mon, 22 Dec 2025 10:00:00 +0000", "I am away until January 5.", "2026-01-06"},
		{"US numeric", "a@example.edu", "Mon, 2 Jun 2025 10:00:00 +0000", "I will be back on 07/03/2025.", "2025-07-03"},
		{"UK numeric", "a@example.ac.uk", "Mon, 2 Jun 2025 10:00:00 +0000", "I will be back on 07/03/2026.", "2026-03-07"},
		{"impossible US order falls back", "a@example.com", "Mon, 5 Jul 2010 08:57:06 -0400", "away until 05/07/2010", "2010-07-06"},
		{"range end", "a@example.edu", "Mon, 2 Jun 2025 10:00:00 +0000", "I am travelling June 10-20 with no email.", "2025-06-21"},
		{"through", "a@example.edu", "Mon, 2 Jun 2025 10:00:00 +0000", "Out of the office through Friday, June 6.", "2025-06-07"},
		{"date in the past ignored", "a@example.edu", "Mon, 2 Jun 2025 10:00:00 +0000", "I was back on May 5.", ""},
		{"French jusqu'au", "a@example.fr", "Mon, 2 Jun 2025 10:00:00 +0000", "Je suis absent jusqu'au 13 juin.", "2025-06-14"},
		{"Spanish regreso", "a@example.es", "Mon, 2 Jun 2025 10:00:00 +0000", "Estoy de vacaciones, regreso el 16 de junio.", "2025-06-16"},
		{"Italian volto", "a@example.it", "Mon, 2 Jun 2025 10:00:00 +0000", "Sono in ferie, volto il 9 giugno.", "2025-06-09"},
		{"Portuguese até", "a@example.pt", "Mon, 2 Jun 2025 10:00:00 +0000", "Estou ausente até 20/06/2025.", "2025-06-21"},
		{"German ab wieder", "a@example.de", "Mon, 2 Jun 2025 10:00:00 +0000", "Ab dem 10. Juni bin ich wieder im Büro.", "2025-06-10"},
		{"time is not a date", "a@example.edu", "Mon, 2 Jun 2025 10:00:00 +0000", "I am in meetings until 10.30 today.", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := "From: " + tc.from + "\r\nDate: " + tc.date + "\r\nSubject: Out of office\r\n" +
				"Auto-Submitted: auto-replied\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + tc.body + "\r\n"
			got := Classify([]byte(raw))
			if got.Kind != outreach.MessageAutoReply {
				t.Fatalf("kind = %s, want auto_reply", got.Kind)
			}
			if d := dateString(got.ReturnDate); d != tc.want {
				t.Errorf("return date = %q, want %q (%v)", d, tc.want, got.Evidence)
			}
		})
	}
}

// TestDecodeHeaderValue checks RFC 2047 words in the charsets x/text
// decodes, raw 8-bit bytes, and malformed words left as they are.
func TestDecodeHeaderValue(t *testing.T) {
	tests := []struct{ name, raw, want string }{
		{"utf-8 B", "=?UTF-8?B?w6lsw6h2ZQ==?=", "élève"},
		{"latin-1 Q", "=?ISO-8859-1?Q?Gr=FC=DFe?=", "Grüße"},
		{"big5 label on utf-8 raw", "\xe4\xbd\xa0\xe5\xa5\xbd", "你好"},
		{"raw latin-1 byte", "Andr\xe9", "André"},
		{"unknown charset read as bytes", "=?x-unknown?Q?abc?= tail", "abc tail"},
		{"malformed word kept", "=?UTF-8?B?###?= tail", "=?UTF-8?B?###?= tail"},
		{"iso-2022-jp", "=?ISO-2022-JP?B?GyRCPCtGMDF+RXobKEI=?=", "自動応答"},
		{"koi8-r", "=?KOI8-R?B?4dfUz8/U18XU?=", "Автоответ"},
		{"ks_c_5601-1987", "=?ks_c_5601-1987?B?x9Gx27vn?=", "한글사"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := decodeHeaderValue([]byte(tc.raw)); got != tc.want {
				t.Errorf("decodeHeaderValue(%q) = %q, want %q", tc.raw, got, tc.want)
			}
		})
	}
}
