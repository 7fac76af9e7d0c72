DROP TABLE record_follows;
DROP TABLE attachments;
DROP TABLE tasks;
DROP TABLE followups;
DROP TABLE leads;
DROP TABLE contacts;
