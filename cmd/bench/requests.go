package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// orderBody is order request number i: the seeded customers 1 and 2, items
// 1 to 4, one line, as a shop's clients send them.
func orderBody(i int) []byte {
	b, _ := json.Marshal(map[string]any{
		"customer":        map[string]int{"customerId": 1 + i%2},
		"shippingAddress": map[string]string{"street": "Ohlauer Str. 43", "zip": "10999", "city": "Berlin"},
		"billingAddress":  map[string]string{"street": "Krischerstr. 100", "zip": "40789", "city": "Monheim am Rhein"},
		"orderLine":       []map[string]any{{"count": 1 + i%3, "item": map[string]int{"itemId": 1 + i%4}}},
	})
	return b
}

func orderPost(ctx context.Context, url string, i int) *http.Request {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(orderBody(i)))
	req.Header.Set("Content-Type", "application/json")
	return req
}

// placedEvent is a binary-mode com.example.order.placed for order id, as the
// dispatcher delivers it to a sink.
func placedEvent(ctx context.Context, url string, id int64) *http.Request {
	body := fmt.Sprintf(`{"id":%d,"customer":{"customerId":1,"name":"Wolff","firstname":"Eberhard","email":"eberhard.wolff@gmail.com"},
"updated":%q,"shippingAddress":{"street":"Ohlauer Str. 43","zip":"10999","city":"Berlin"},
"billingAddress":{"street":"Ohlauer Str. 43","zip":"10999","city":"Berlin"},
"orderLine":[{"count":1,"item":{"itemId":1,"name":"iPod","price":42.0}}],"numberOfLines":1}`,
		id, time.Now().UTC().Format(time.RFC3339))
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Ce-Specversion", "1.0")
	req.Header.Set("Ce-Type", "com.example.order.placed")
	req.Header.Set("Ce-Source", "/bench")
	req.Header.Set("Ce-Id", fmt.Sprintf("bench-%d", id))
	req.Header.Set("Ce-Subject", fmt.Sprint(id))
	return req
}
