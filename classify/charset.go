package classify

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
)

// lookupCharset finds a decoder for a MIME charset label. WHATWG labels
// (htmlindex) cover the aliases mail clients really send, such as
// ks_c_5601-1987 or gb2312; the IANA registry catches the rest.
func lookupCharset(label string) encoding.Encoding {
	label = strings.ToLower(strings.Trim(strings.TrimSpace(label), `"'`))
	if label == "" {
		return nil
	}
	if e, err := htmlindex.Get(label); err == nil {
		return e
	}
	if e, err := ianaindex.MIME.Encoding(label); err == nil && e != nil {
		return e
	}
	return nil
}

// toUTF8 decodes b from the labelled charset. Labels lie (Discourse's
// chinese_reply says Big5 and sends UTF-8), so text that is already valid
// UTF-8 with non-ASCII bytes is kept as it is; undecodable or unlabelled
// 8-bit text falls back to Windows-1252, which maps every byte.
func toUTF8(b []byte, label string) string {
	if utf8.Valid(b) && (hasHighBit(b) || !isStatefulLabel(label)) {
		return string(b)
	}
	if e := lookupCharset(label); e != nil {
		if out, err := e.NewDecoder().Bytes(b); err == nil {
			return string(out)
		}
	}
	if utf8.Valid(b) {
		return string(b)
	}
	out, _ := charmap.Windows1252.NewDecoder().Bytes(b)
	return string(out)
}

// isStatefulLabel reports charsets that are 7-bit on the wire (ISO-2022-*,
// UTF-7) and so must be decoded even when the bytes are valid UTF-8.
func isStatefulLabel(label string) bool {
	l := strings.ToLower(label)
	return strings.Contains(l, "2022") || strings.Contains(l, "utf-7") || strings.Contains(l, "hz-gb")
}

func hasHighBit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// wordDecoder decodes RFC 2047 encoded words in any charset x/text knows.
var wordDecoder = &mime.WordDecoder{CharsetReader: func(label string, r io.Reader) (io.Reader, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxHeaderBytes))
	if err != nil {
		return nil, err
	}
	return strings.NewReader(toUTF8(b, label)), nil
}}

// decodeHeaderValue turns a raw header value into UTF-8 text: raw 8-bit
// bytes first (RFC 6532 UTF-8, else Windows-1252), then RFC 2047 words.
func decodeHeaderValue(raw []byte) string {
	s := toUTF8(raw, "")
	if !strings.Contains(s, "=?") {
		return s
	}
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		return d
	}
	return decodeWordsLeniently(s)
}

// decodeWordsLeniently decodes each well-formed encoded word on its own,
// leaving malformed ones as they are (RFC 2047 section 6.3: a decoder
// should not reject a whole header for one bad word).
func decodeWordsLeniently(s string) string {
	var b strings.Builder
	for _, f := range strings.Fields(s) {
		if d, err := wordDecoder.Decode(f); err == nil {
			b.WriteString(d)
		} else {
			b.WriteString(f)
		}
		b.WriteByte(' ')
	}
	return strings.TrimSpace(b.String())
}

// decodeTransfer undoes a Content-Transfer-Encoding (RFC 2045 section 6),
// tolerating garbage: base64 ignores non-alphabet bytes, quoted-printable
// keeps what decoded before an error. At most limit input bytes are read.
func decodeTransfer(body []byte, cte string, limit int) []byte {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		return decodeBase64(capBytes(body, limit*4/3+4))
	case "quoted-printable":
		r := quotedprintable.NewReader(bytes.NewReader(capBytes(body, limit*3)))
		out, _ := io.ReadAll(io.LimitReader(r, int64(limit)))
		return out
	}
	return capBytes(body, limit)
}

func decodeBase64(b []byte) []byte {
	clean := make([]byte, 0, len(b))
	for _, c := range b {
		if isBase64Char(c) {
			clean = append(clean, c)
		}
	}
	clean = clean[:len(clean)/4*4]
	out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
	n, err := base64.StdEncoding.Decode(out, clean)
	if err != nil {
		return out[:n]
	}
	return out[:n]
}

func isBase64Char(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '+' || c == '/' || c == '='
}

func capBytes(b []byte, n int) []byte {
	if n >= 0 && len(b) > n {
		return b[:n]
	}
	return b
}

// htmlToText strips tags, scripts and styles and decodes a few entities:
// enough to match phrases in HTML-only notifications, not a renderer.
func htmlToText(s string) string {
	var b strings.Builder
	lower := strings.ToLower(s)
	for i := 0; i < len(s); {
		if s[i] != '<' {
			b.WriteByte(s[i])
			i++
			continue
		}
		i = skipTag(lower, i)
		b.WriteByte(' ')
	}
	return htmlEntities.Replace(b.String())
}

// skipTag returns the index after the tag starting at i; script and
// style elements are skipped whole.
func skipTag(lower string, i int) int {
	for _, el := range []string{"script", "style"} {
		if strings.HasPrefix(lower[i:], "<"+el) {
			if end := strings.Index(lower[i:], "</"+el); end >= 0 {
				i += end + 2
			}
		}
	}
	if end := strings.IndexByte(lower[i:], '>'); end >= 0 {
		return i + end + 1
	}
	return len(lower)
}

var htmlEntities = strings.NewReplacer("&nbsp;", " ", "&amp;", "&", "&lt;", "<", "&gt;", ">",
	"&quot;", `"`, "&#39;", "'", "&apos;", "'", "&#160;", " ")
