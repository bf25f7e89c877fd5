package gosmtp

// FieldsForTest exposes fields to the tests of package gosmtp_test.
var FieldsForTest = fields
