package money

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Cents
		wantErr bool
	}{
		{in: "42", want: 4200},
		{in: "42.0", want: 4200},
		{in: "42.5", want: 4250},
		{in: "0.01", want: 1},
		{in: "-0.99", want: -99},
		{in: "4.2e1", want: 4200},
		{in: "1E2", want: 10000},
		{in: "1.230", want: 123},
		{in: "0", want: 0},
		{in: "0.001", wantErr: true},
		{in: "1e-3", wantErr: true},
		{in: "abc", wantErr: true},
		{in: "", wantErr: true},
		{in: ".", wantErr: true},
		{in: "99999999999999999999", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Parse(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Parse(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestJSONRoundTrip(t *testing.T) {
	var v struct {
		Price Cents `json:"price"`
	}
	if err := json.Unmarshal([]byte(`{"price": 21.1}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.Price != 2110 {
		t.Fatalf("price = %d, want 2110", v.Price)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"price":21.10}`; got != want {
		t.Errorf("marshal = %s, want %s", got, want)
	}
	if err := json.Unmarshal([]byte(`{"price": 0.005}`), &v); !errors.Is(err, ErrNotExact) {
		t.Errorf("0.005: err = %v, want ErrNotExact", err)
	}
}

func TestString(t *testing.T) {
	for in, want := range map[Cents]string{0: "0.00", 5: "0.05", 4200: "42.00", -150: "-1.50"} {
		if got := in.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", in, got, want)
		}
	}
}
