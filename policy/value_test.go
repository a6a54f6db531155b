package policy

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// jsonToValue must agree with OPA's own conversion on everything
// encoding/json writes, and refuse what is not JSON.
func TestJSONToValueAgreesWithOPA(t *testing.T) {
	docs := []string{
		`{}`, `[]`, `null`, `true`, `"x"`, `0`, `-1.5e3`, `12345678901234567890`,
		`{"a": [1, 2.5, {"b": null, "c": false}], "d": "", "e": {}, "f": []}`,
		`"quote \" backslash \\ newline \n tab \t unicode \u00e9 \u2028 html \u003c\u003e\u0026"`,
		` { "spaced" : [ 1 , 2 ] } `,
	}
	in := Input{Experiment: ExperimentInput{FaultKind: "network/delay", Metadata: MetadataInput{Name: "a<b>&\"c\"", Labels: map[string]string{"é": "ü"}}}}
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, string(raw))
	for _, doc := range docs {
		want, err := ast.ValueFromReader(bytes.NewReader([]byte(doc)))
		if err != nil {
			t.Fatalf("OPA: %s: %v", doc, err)
		}
		got, err := jsonToValue([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		if got.Compare(want) != 0 {
			t.Errorf("%s:\n got %v\nwant %v", doc, got, want)
		}
	}
	for _, bad := range []string{``, `{`, `[1,]`, `{"a" 1}`, `"open`, `tru`, `1x`, `{} {}`, `{"a":1,}`} {
		if _, err := jsonToValue([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
