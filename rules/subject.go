// Package rules holds Outreach's pure decisions: which thread a message
// belongs to, and what happens next to a thread. Everything here is a
// function of its arguments: no clock, no I/O, no globals that change.
package rules

import (
	"regexp"
	"strings"
	"unicode"
)

// replyPrefix matches one reply or forward prefix as mail clients write them
// in many languages: Re, AW (German), SV (Nordic), VS (Finnish), Antw
// (Dutch), Odp (Polish), RIF (Italian), YNT (Turkish), Fwd/FW, WG (German),
// TR (French), RV and ENC (Spanish, Portuguese), ΑΠ and ΣΧΕΤ (Greek), 回复 /
// 答复 / 回覆 / 转发 / 轉寄 (Chinese), with an optional counter such as [2],
// (3) or ^4, and an ASCII or full-width colon.
var replyPrefix = regexp.MustCompile(`(?i)^\s*(re|aw|sv|vs|antw|antwort|odp|rif|r|ynt|fwd|fw|wg|tr|rv|enc|doorst|ref|res|απ|σχετ|回复|答复|回覆|转发|轉寄|返信|転送)\s*(\[\d+\]|\(\d+\)|\^\d+)?\s*[:：]`)

// leadingTag matches one bracketed tag at the start of a subject: a list
// name ([urology-l]), a ticket number ([Ticket#123], [#123]) or a gateway
// mark ([EXTERNAL], [EXT], *EXTERNAL*, (External)).
var leadingTag = regexp.MustCompile(`^\s*(\[[^\]]{0,64}\]|\*\s*external\s*\*|\((external|ext)\)|external\s*:)\s*`)

// NormalizeSubject reduces a subject to what identifies a conversation:
// reply and forward prefixes, list, ticket and gateway tags are removed,
// whitespace is collapsed and the text is case-folded. "RE: AW: [EXTERNAL]
// Research  opportunity" and "research opportunity" normalise alike.
func NormalizeSubject(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		return r
	}, s)
	for {
		before := s
		if loc := replyPrefix.FindStringIndex(s); loc != nil {
			s = s[loc[1]:]
		}
		if loc := leadingTag.FindStringIndex(strings.ToLower(s)); loc != nil {
			s = s[loc[1]:]
		}
		if s == before {
			break
		}
	}
	s = strings.TrimSuffix(strings.TrimSpace(s), "(fwd)")
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}
