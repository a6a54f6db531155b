package standalone

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	legacyrouter "github.com/getkin/kin-openapi/routers/legacy"
)

func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPI)
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("openapi.yaml is not valid OpenAPI 3: %v", err)
	}
	return doc
}

// Every path and method of openapi.yaml is routed, and every route is in
// openapi.yaml.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	var inDoc, served []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			inDoc = append(inDoc, method+" "+path)
		}
	}
	for _, rt := range routes {
		served = append(served, rt.method+" "+rt.path)
	}
	slices.Sort(inDoc)
	slices.Sort(served)
	if !slices.Equal(inDoc, served) {
		t.Errorf("openapi.yaml and the routes differ:\n only in openapi.yaml: %v\n only routed: %v", minus(inDoc, served), minus(served, inDoc))
	}
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// Every answer of a walk through the whole API, good requests and bad,
// has a status code the operation declares and a body of the declared
// shape; every operation is called.
func TestResponsesMatchOpenAPI(t *testing.T) {
	doc := loadOpenAPI(t)
	doc.Servers = nil // match any host: the test server's port is random
	router, err := legacyrouter.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	openapi3filter.RegisterBodyDecoder("application/yaml", openapi3filter.FileBodyDecoder)
	a := startTestAgent(t)
	called := map[string]bool{}
	check := func(method, path, contentType, body string, want int) []byte {
		t.Helper()
		status, hdr, raw := a.call(t, method, path, contentType, body)
		if status != want {
			t.Errorf("%s %s: status %d, want %d: %s", method, path, status, want, raw)
		}
		req, _ := http.NewRequest(method, a.url+path, strings.NewReader(body))
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Errorf("%s %s: not in openapi.yaml: %v", method, path, err)
			return raw
		}
		called[method+" "+route.Path] = true
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route}
		if err := openapi3filter.ValidateResponse(t.Context(), &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in, Status: status, Header: hdr, Body: io.NopCloser(bytes.NewReader(raw)),
			Options: &openapi3filter.Options{IncludeResponseStatus: true},
		}); err != nil {
			t.Errorf("%s %s answered %d not as openapi.yaml declares: %v\n%s", method, path, status, err, raw)
		}
		return raw
	}
	const js = "application/json"

	check("GET", "/healthz", "", "", 200)
	check("GET", "/openapi.yaml", "", "", 200)
	check("GET", "/v1/attacks", "", "", 200)
	created := decode[Attack](t, check("POST", "/v1/attacks", js, diskFill(a.dir, "64Ki", "1m"), 201))
	check("POST", "/v1/attacks", js, `{"fault":{"disk":{"action":"fill","path":"relative","size":"1Ki"}}}`, 400)
	check("GET", "/v1/attacks/"+created.ID, "", "", 200)
	check("GET", "/v1/attacks/a-nothere", "", "", 404)
	check("GET", "/v1/attacks", "", "", 200)
	check("POST", "/v1/attacks/"+created.ID+"/recover", "", "", 200)
	check("POST", "/v1/attacks/"+created.ID+"/recover", "", "", 200)
	check("POST", "/v1/attacks/a-nothere/recover", "", "", 200)
	check("POST", "/v1/attacks/a%7Cb/recover", "", "", 400)

	sreq := `{"cron":"@every 1h","attack":` + diskFill(a.dir, "64Ki", "1m") + `}`
	sc := decode[Schedule](t, check("POST", "/v1/schedules", js, sreq, 201))
	check("POST", "/v1/schedules", js, `{"cron":"every day","attack":`+diskFill(a.dir, "64Ki", "1m")+`}`, 400)
	check("GET", "/v1/schedules", "", "", 200)
	check("GET", "/v1/schedules/"+sc.ID, "", "", 200)
	check("GET", "/v1/schedules/s-nothere", "", "", 404)
	check("PUT", "/v1/schedules/"+sc.ID, js, strings.Replace(sreq, "1h", "2h", 1), 200)
	check("PUT", "/v1/schedules/s-nothere", js, sreq, 404)
	check("PUT", "/v1/schedules/"+sc.ID, js, `{"cron":"@every 1h"}`, 400)
	check("DELETE", "/v1/schedules/"+sc.ID, "", "", 204)
	check("DELETE", "/v1/schedules/"+sc.ID, "", "", 404)

	check("POST", "/v1/apply", "application/yaml", injectionYAML(a.dir, "10m"), 201)
	check("POST", "/v1/apply", "application/yaml", "apiVersion: v1\nkind: Pod\n", 400)

	for _, rt := range routes {
		if !called[rt.method+" "+rt.path] {
			t.Errorf("%s %s was never called", rt.method, rt.path)
		}
	}
}

// injectionYAML is an Injection as a hub sends it, filling dir.
func injectionYAML(dir, in string) string {
	return `apiVersion: faultline.dev/v1alpha1
kind: Injection
metadata:
  name: fill-var
spec:
  agent: test-host
  fault:
    disk:
      action: fill
      path: ` + dir + `
      size: 64Ki
  targets:
  - key: test-host
    kind: Host
  owner:
    experiment: default/fill
`
}
