module github.com/mskafka/knative-functions/infra/box/helper

go 1.26.0

require github.com/google/go-containerregistry v0.20.3
