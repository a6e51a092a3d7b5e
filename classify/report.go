package classify

import (
	"regexp"
	"strings"
	"unicode/utf8"

	outreach "github.com/outreach/outreach"
)

// dsnRecipient is one per-recipient block of a delivery status
// notification (RFC 3464 section 2.3).
type dsnRecipient struct {
	final, original, action, status, diagnostic string
}

// addr returns the recipient address, preferring Final-Recipient.
func (d dsnRecipient) addr() string {
	if a := cleanAddress(d.final); a != "" {
		return a
	}
	return cleanAddress(d.original)
}

// reportRule handles multipart/report (RFC 6522) and its report parts:
// delivery-status (RFC 3464), disposition-notification (RFC 8098) and
// feedback-report (RFC 5965). Report parts are read even when the wrapper
// is not multipart/report, as some gateways rewrap them.
func reportRule(f *facts, r *Result) bool {
	for _, p := range f.msg.parts {
		switch p.mediaType {
		case "message/feedback-report":
			return complaint(f, p, r)
		case "message/disposition-notification", "message/global-disposition-notification":
			return receipt(f, p, r)
		}
	}
	for _, p := range f.msg.parts {
		if p.mediaType == "message/delivery-status" || p.mediaType == "message/global-delivery-status" {
			if deliveryStatus(f, p, r) {
				return true
			}
		}
	}
	return false
}

// reportEvidence names the wrapper, for the evidence list.
func reportEvidence(f *facts) string {
	if f.msg.mediaType == "multipart/report" {
		return "multipart/report; report-type=" + strings.ToLower(f.msg.params["report-type"])
	}
	return f.msg.mediaType + " carrying a report part"
}

// complaint fills r for an ARF feedback report (RFC 5965).
func complaint(f *facts, p part, r *Result) bool {
	r.Kind, r.Confidence = outreach.MessageComplaint, outreach.Certain
	r.because("%s", reportEvidence(f))
	r.because("message/feedback-report part (RFC 5965): Feedback-Type %s", fieldValue(p.text, "feedback-type"))
	r.addEmbeddedRefs(f)
	return true
}

// receipt fills r for a message disposition notification (RFC 8098).
func receipt(f *facts, p part, r *Result) bool {
	r.Kind, r.Confidence = outreach.MessageReceipt, outreach.Certain
	r.because("%s", reportEvidence(f))
	r.because("message/disposition-notification part (RFC 8098): Disposition %s", fieldValue(p.text, "disposition"))
	r.addRefs(splitMessageIDs(fieldValue(p.text, "original-message-id"))...)
	r.addEmbeddedRefs(f)
	return true
}

// addEmbeddedRefs adds the Message-IDs of returned messages or headers.
func (r *Result) addEmbeddedRefs(f *facts) {
	for _, h := range f.embeddedHeaders() {
		r.addRefs(splitMessageIDs(h.get("message-id"))...)
	}
}

// deliveryStatus fills r from a message/delivery-status part: a failure is
// a bounce, only "delayed" actions a delay, only success actions a notice
// (RFC 3464 section 2.3.3).
func deliveryStatus(f *facts, p part, r *Result) bool {
	recips := parseDSN(p.text)
	failed, delayed, success := splitByAction(recips)
	switch {
	case len(failed) > 0:
		r.Kind = outreach.MessageBounce
		r.because("%s", reportEvidence(f))
		r.because("message/delivery-status (RFC 3464): Action failed for %d recipient(s)", len(failed))
		fillBounce(f, failed, r)
	case len(delayed) > 0:
		r.Kind = outreach.MessageDelay
		r.because("%s", reportEvidence(f))
		r.because("message/delivery-status (RFC 3464): every Action is delayed: not final")
		fillBounce(f, delayed, r)
	case len(success) > 0:
		r.Kind, r.Confidence = outreach.MessageNotice, outreach.Certain
		r.because("%s", reportEvidence(f))
		r.because("message/delivery-status (RFC 3464): Action %s only: a success notification", success[0].action)
		r.addEmbeddedRefs(f)
		return true
	default:
		return false // a report part without recipients: let the text rules decide
	}
	r.Confidence = outreach.Certain
	return true
}

// splitByAction sorts recipients by Action; an unknown action with a 5.x.x
// status counts as failed, with 4.x.x as delayed.
func splitByAction(recips []dsnRecipient) (failed, delayed, success []dsnRecipient) {
	for _, d := range recips {
		a := strings.ToLower(d.action)
		switch {
		case a == "failed" || a == "failure" || a == "" && strings.HasPrefix(d.status, "5"):
			failed = append(failed, d)
		case a == "delayed" || a == "" && strings.HasPrefix(d.status, "4"):
			delayed = append(delayed, d)
		case a == "delivered" || a == "relayed" || a == "expanded" || a == "deliverable":
			success = append(success, d)
		case strings.HasPrefix(d.status, "5"):
			failed = append(failed, d)
		}
	}
	return failed, delayed, success
}

// fillBounce copies status, diagnostic, recipients and the returned
// message's ID into r, and derives reason and permanence.
func fillBounce(f *facts, recips []dsnRecipient, r *Result) {
	first := recips[0]
	status := normalizeStatus(first.status)
	diag := unfoldDiagnostic(first.diagnostic)
	if status == "" || status == "5.0.0" || status == "4.0.0" {
		if s := statusFromText(diag); s != "" && status == "" {
			status = s
		}
	}
	for _, d := range recips {
		r.addRecipient(d.addr())
	}
	r.Status = status
	r.Reason = bounceReason(status, diag, f.ltext)
	r.Permanent = r.Kind == outreach.MessageBounce && isPermanent(r.Reason, status, false)
	if diag != "" {
		r.because("Diagnostic-Code: %s", truncate(diag, 160))
	}
	r.because("reason %s, status %s, permanent %t", r.Reason, orDash(status), r.Permanent)
	r.addEmbeddedRefs(f)
	r.addRefs(quotedMessageIDs(f.text)...)
}

// parseDSN reads the per-recipient blocks of a delivery-status body: blank
// lines separate blocks, continuation lines are unfolded.
func parseDSN(text string) []dsnRecipient {
	var out []dsnRecipient
	for _, block := range splitBlocks(text) {
		h, _ := splitHeader([]byte(block))
		d := dsnRecipient{
			final: h.get("final-recipient"), original: h.get("original-recipient"),
			action: strings.TrimSpace(h.get("action")), status: h.get("status"),
			diagnostic: h.get("diagnostic-code"),
		}
		if d.final != "" || d.original != "" || d.action != "" {
			out = append(out, d)
		}
	}
	return out
}

// splitBlocks splits text at blank lines, tolerating CRLF and lines of
// spaces, and drops the per-message block's leading blank lines.
func splitBlocks(text string) []string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	var blocks []string
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" {
			if cur.Len() > 0 {
				blocks = append(blocks, cur.String())
				cur.Reset()
			}
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	if cur.Len() > 0 {
		blocks = append(blocks, cur.String())
	}
	return blocks
}

// fieldValue returns the first "Name: value" line's value in a report body.
func fieldValue(text, name string) string {
	for _, block := range splitBlocks(text) {
		h, _ := splitHeader([]byte(block))
		if v := h.get(name); v != "" {
			return v
		}
	}
	return ""
}

var (
	statusRe     = regexp.MustCompile(`\b([245])\.(\d{1,3})\.(\d{1,3})\b`)
	smtpCodeRe   = regexp.MustCompile(`\b([45])[0-5][0-9][ -]`)
	messageIDRe  = regexp.MustCompile(`(?im)^[ \t>]*message-id:[ \t]*(<[^<>\s]+>)`)
	diagPrefixRe = regexp.MustCompile(`(?i)^(smtp|x-[a-z-]+|x-unix)\s*;\s*`)
)

// normalizeStatus extracts "d.d.d" from a Status field (RFC 3463).
func normalizeStatus(s string) string {
	return statusRe.FindString(s)
}

// statusFromText returns the first enhanced status code in s, or a class
// derived from a bare SMTP reply code (550 -> 5.0.0).
func statusFromText(s string) string {
	if st := statusRe.FindString(s); st != "" {
		return st
	}
	if m := smtpCodeRe.FindStringSubmatch(s); m != nil {
		return m[1] + ".0.0"
	}
	return ""
}

func unfoldDiagnostic(d string) string {
	d = diagPrefixRe.ReplaceAllString(strings.TrimSpace(d), "")
	return strings.Join(strings.Fields(d), " ")
}

// quotedMessageIDs finds Message-ID header lines quoted in a bounce's text.
func quotedMessageIDs(text string) []string {
	if !strings.Contains(text, "essage-") && !strings.Contains(text, "ESSAGE-") {
		return nil // cheap pre-check before the regexp
	}
	var ids []string
	for _, m := range messageIDRe.FindAllStringSubmatch(text, 5) {
		ids = append(ids, m[1])
	}
	return ids
}

// truncate shortens s to about n bytes without splitting a rune.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
