package outreach

import "time"

// MessageKind is what classification says a message is.
type MessageKind string

// The message kinds, as stored in messages.kind and printed by `outreach classify`.
const (
	MessageHuman     MessageKind = "human"      // written by a person
	MessageAutoReply MessageKind = "auto_reply" // vacation, challenge, ticket acknowledgement, "no longer here"
	MessageBounce    MessageKind = "bounce"     // a delivery failure (RFC 3464 or a plain-text look-alike)
	MessageDelay     MessageKind = "delay"      // a delivery delay warning: not final
	MessageReceipt   MessageKind = "receipt"    // a read receipt (RFC 8098)
	MessageComplaint MessageKind = "complaint"  // a spam complaint (ARF, RFC 5965)
	MessageList      MessageKind = "list"       // mailing-list or bulk mail
	MessageNotice    MessageKind = "notice"     // other machine mail, such as a success DSN
)

// MessageKinds lists every kind, in the order used for reports.
var MessageKinds = []MessageKind{MessageHuman, MessageAutoReply, MessageBounce, MessageDelay,
	MessageReceipt, MessageComplaint, MessageList, MessageNotice}

// Valid reports whether k is one of the message kinds.
func (k MessageKind) Valid() bool {
	for _, v := range MessageKinds {
		if v == k {
			return true
		}
	}
	return false
}

// Confidence says how sure a classification or a threading decision is.
type Confidence string

// The confidence levels: only `certain` and `likely` decisions act without review.
const (
	Certain Confidence = "certain"
	Likely  Confidence = "likely"
	Unsure  Confidence = "unsure"
)

// Direction tells our mail from theirs.
type Direction string

// Directions of a message relative to the applicant.
const (
	Inbound  Direction = "in"  // sent to the applicant
	Outbound Direction = "out" // sent by the applicant, from any client
)

// Message is one email as Outreach stores it: the envelope facts and headers
// that classification and threading use, never the whole body.
type Message struct {
	ID           int64
	MailboxID    int64
	UIDValidity  uint32
	UID          uint32
	MessageID    string // normalised: no angle brackets, lower-case domain part kept as sent
	InReplyTo    []string
	References   []string
	From         string
	FromName     string
	To           []string
	Cc           []string
	Subject      string
	Date         time.Time
	InternalDate time.Time
	Size         int64
	Direction    Direction
	Kind         MessageKind // empty until classified
	ThreadID     int64       // 0 when not attached to a thread
	ContactID    int64       // 0 when not from or to a contact
	ParseError   string      // why the message could not be parsed; the raw headers are still kept
	Flags        []string
	Header       []byte // the raw header block as fetched
	Raw          []byte // the skeleton: full header and the parts that matter; nil when not fetched
	// Classification is the classifier's result as JSON, stored with Kind;
	// nil when the message was not classified.
	Classification []byte
	Expunged       bool
}
