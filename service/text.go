package service

import (
	"unicode"
	"unicode/utf8"

	"github.com/stipend/stipend/policy"
)

// plainText refuses agent-written text that a human will read on an approval
// page (a description, an agent id) when it could mislead the reader: invalid
// UTF-8, control characters (C0, DEL, C1), line and paragraph separators, and
// the bidirectional formatting characters that reorder what is shown
// (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C).
func plainText(param, text string) error {
	if !utf8.ValidString(text) {
		return policy.Errorf(policy.CodeInvalidArgument, param, "%s is not valid UTF-8", param)
	}
	for i, r := range text {
		if bad, what := disallowedRune(r); bad {
			return policy.Errorf(policy.CodeInvalidArgument, param,
				"%s holds %s (U+%04X at byte %d); send plain text", param, what, r, i)
		}
	}
	return nil
}

// disallowedRune reports whether r may not appear in text shown to people, and what it is.
func disallowedRune(r rune) (bool, string) {
	switch {
	case unicode.IsControl(r):
		return true, "a control character"
	case r == '\u2028' || r == '\u2029':
		return true, "a line or paragraph separator"
	case r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069', r == '\u200E', r == '\u200F', r == '\u061C':
		return true, "a bidirectional formatting character"
	}
	return false, ""
}
