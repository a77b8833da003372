module github.com/ccwal/ccwal/examples-go/ccwal

go 1.22
