module github.com/ccwal/ccwal/e2e

go 1.25.0
