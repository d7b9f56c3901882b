module github.com/mskafka/knative-functions

go 1.26
