module github.com/ccwal/ccwal/examples-go

go 1.24
