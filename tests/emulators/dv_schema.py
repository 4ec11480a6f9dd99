# dv_schema: the Dataverse tables the emulator serves: the `contact` table of reference A14 and the
# default configurable custom tables (publisher prefix `new`, lookups to contact and to each other,
# picklists with labels, a custom activity table for email events with an alternate key). A table
# definition is plain JSON, so tests and the demo can replace the custom tables through config.

SYSTEM_USER_ID = "00000000-0000-0000-0000-00000000a001"
SYSTEM_USER_NAME = "crmsync Application User"

BOOL_DNA = {"true": "Do Not Allow", "false": "Allow"}

# attributes every table has: the audit columns, and the owner and state of user-owned tables
AUDIT = [
    {"name": "createdon", "type": "DateTime", "readonly": True, "label": "Created On"},
    {"name": "modifiedon", "type": "DateTime", "readonly": True, "label": "Modified On"},
    {"name": "versionnumber", "type": "BigInt", "readonly": True, "label": "Version Number"},
]
OWNED_AUDIT = [{"name": "ownerid", "type": "Owner", "targets": ["systemuser"], "readonly": True, "label": "Owner"}] + AUDIT
ACTIVE_STATUS = [
    {"name": "statecode", "type": "State", "options": {"0": "Active", "1": "Inactive"}, "default": 0, "label": "Status"},
    {"name": "statuscode", "type": "Status", "options": {"1": "Active", "2": "Inactive"}, "default": 1, "label": "Status Reason"},
]

CONTACT = {
    "logical": "contact", "set": "contacts", "schema": "Contact", "id": "contactid",
    "name": "fullname", "display": "Contact", "plural": "Contacts", "otc": 2,
    "ownership": "UserOwned", "change_tracking": True, "custom": False, "activity": False,
    "attributes": [
        {"name": "contactid", "type": "Uniqueidentifier", "label": "Contact", "update": False},
        {"name": "firstname", "type": "String", "max": 50, "label": "First Name", "required": "Recommended"},
        {"name": "lastname", "type": "String", "max": 50, "label": "Last Name", "required": "ApplicationRequired"},
        {"name": "middlename", "type": "String", "max": 50, "label": "Middle Name"},
        {"name": "fullname", "type": "String", "max": 160, "label": "Full Name", "readonly": True},
        {"name": "emailaddress1", "type": "String", "max": 100, "label": "Email", "format": "Email"},
        {"name": "emailaddress2", "type": "String", "max": 100, "label": "Email Address 2", "format": "Email"},
        {"name": "emailaddress3", "type": "String", "max": 100, "label": "Email Address 3", "format": "Email"},
        {"name": "mobilephone", "type": "String", "max": 50, "label": "Mobile Phone"},
        {"name": "telephone1", "type": "String", "max": 50, "label": "Business Phone"},
        {"name": "jobtitle", "type": "String", "max": 100, "label": "Job Title"},
        {"name": "address1_city", "type": "String", "max": 80, "label": "Address 1: City"},
        {"name": "birthdate", "type": "DateTime", "format": "DateOnly", "label": "Birthday"},
        {"name": "donotbulkemail", "type": "Boolean", "labels": BOOL_DNA, "default": False, "label": "Do not allow Bulk Emails"},
        {"name": "donotemail", "type": "Boolean", "labels": BOOL_DNA, "default": False, "label": "Do not allow Emails"},
        {"name": "donotphone", "type": "Boolean", "labels": BOOL_DNA, "default": False, "label": "Do not allow Phone Calls"},
        {"name": "donotfax", "type": "Boolean", "labels": BOOL_DNA, "default": False, "label": "Do not allow Faxes"},
        {"name": "donotpostalmail", "type": "Boolean", "labels": BOOL_DNA, "default": False, "label": "Do not allow Mails"},
        {"name": "donotbulkpostalmail", "type": "Boolean", "labels": {"true": "Yes", "false": "No"}, "default": False, "label": "Do not allow Bulk Mails"},
        {"name": "donotsendmm", "type": "Boolean", "labels": {"true": "Do Not Send", "false": "Send"}, "default": False, "label": "Send Marketing Materials"},
        {"name": "followemail", "type": "Boolean", "labels": {"true": "Allow", "false": "Do Not Allow"}, "default": True, "label": "Follow Email Activity"},
        {"name": "gendercode", "type": "Picklist", "options": {"1": "Male", "2": "Female"}, "label": "Gender"},
        {"name": "preferredcontactmethodcode", "type": "Picklist", "default": 1,
         "options": {"1": "Any", "2": "Email", "3": "Phone", "4": "Fax", "5": "Mail"}, "label": "Preferred Method of Contact"},
        {"name": "statecode", "type": "State", "options": {"0": "Active", "1": "Inactive"}, "default": 0, "label": "Status"},
        {"name": "statuscode", "type": "Status", "options": {"1": "Active", "2": "Inactive"}, "default": 1, "label": "Status Reason"},
        {"name": "parentcustomerid", "type": "Customer", "targets": ["contact"],
         "nav": {"contact": "parentcustomerid_contact"}, "label": "Company Name"},
    ] + OWNED_AUDIT,
    "keys": [],
}

ACTIVITY_COMMON = [
    {"name": "activityid", "type": "Uniqueidentifier", "label": "Activity", "update": False},
    {"name": "subject", "type": "String", "max": 200, "label": "Subject", "required": "ApplicationRequired"},
    {"name": "description", "type": "Memo", "max": 2000, "label": "Description"},
    {"name": "statecode", "type": "State", "options": {"0": "Open", "1": "Completed", "2": "Canceled"}, "default": 0, "label": "Activity Status"},
    {"name": "statuscode", "type": "Status", "options": {"1": "Open", "2": "Completed", "3": "Canceled"}, "default": 1, "label": "Status Reason"},
    {"name": "actualend", "type": "DateTime", "label": "Actual End"},
] + OWNED_AUDIT

EMAIL_EVENT = {
    "logical": "new_acsemailevent", "set": "new_acsemailevents", "schema": "new_acsemailevent",
    "id": "activityid", "name": "subject", "display": "Adobe Campaign Email Event",
    "plural": "Adobe Campaign Email Events", "otc": 10001, "ownership": "UserOwned",
    "change_tracking": True, "custom": True, "activity": True,
    "attributes": ACTIVITY_COMMON + [
        {"name": "regardingobjectid", "type": "Lookup", "targets": ["contact"],
         "nav": {"contact": "regardingobjectid_contact_new_acsemailevent"}, "label": "Regarding"},
        {"name": "new_eventtype", "type": "Picklist", "label": "Event Type",
         "options": {"1": "Send", "2": "Open", "3": "Click", "4": "Bounce"}},
        {"name": "new_campaignname", "type": "String", "max": 200, "label": "Campaign Name"},
        {"name": "new_deliveryname", "type": "String", "max": 200, "label": "Delivery Name"},
        {"name": "new_eventtime", "type": "DateTime", "label": "Event Time"},
        {"name": "new_trackingurl", "type": "String", "max": 2000, "label": "Tracking URL"},
        {"name": "new_mirrorpageurl", "type": "String", "max": 2000, "label": "Mirror Page URL"},
        {"name": "new_acseventid", "type": "String", "max": 100, "label": "ACS Event Id"},
    ],
    "keys": [{"name": "new_acseventid_key", "attributes": ["new_acseventid"]}],
}

MEMBERSHIP = {
    "logical": "new_membership", "set": "new_memberships", "schema": "new_Membership",
    "id": "new_membershipid", "name": "new_name", "display": "Membership", "plural": "Memberships",
    "otc": 10002, "ownership": "UserOwned", "change_tracking": True, "custom": True, "activity": False,
    "attributes": [
        {"name": "new_membershipid", "type": "Uniqueidentifier", "label": "Membership", "update": False},
        {"name": "new_name", "type": "String", "max": 100, "label": "Name", "required": "ApplicationRequired"},
        {"name": "new_membershipnumber", "type": "String", "max": 20, "label": "Membership Number"},
        {"name": "new_tier", "type": "Picklist", "label": "Tier",
         "options": {"100000000": "Bronze", "100000001": "Silver", "100000002": "Gold"}},
        {"name": "new_points", "type": "Integer", "label": "Points"},
        {"name": "new_startdate", "type": "DateTime", "format": "DateOnly", "label": "Start Date"},
        {"name": "new_contactid", "type": "Lookup", "targets": ["contact"], "nav": {"contact": "new_ContactId"}, "label": "Contact"},
    ] + ACTIVE_STATUS + OWNED_AUDIT,
    "keys": [{"name": "new_membershipnumber_key", "attributes": ["new_membershipnumber"]}],
}

MEMBERSHIP_CARD = {
    "logical": "new_membershipcard", "set": "new_membershipcards", "schema": "new_MembershipCard",
    "id": "new_membershipcardid", "name": "new_cardnumber", "display": "Membership Card",
    "plural": "Membership Cards", "otc": 10003, "ownership": "UserOwned", "change_tracking": True,
    "custom": True, "activity": False,
    "attributes": [
        {"name": "new_membershipcardid", "type": "Uniqueidentifier", "label": "Membership Card", "update": False},
        {"name": "new_cardnumber", "type": "String", "max": 30, "label": "Card Number"},
        {"name": "new_membershipid", "type": "Lookup", "targets": ["new_membership"],
         "nav": {"new_membership": "new_MembershipId"}, "label": "Membership"},
        {"name": "new_expireson", "type": "DateTime", "format": "DateOnly", "label": "Expires On"},
    ] + ACTIVE_STATUS + OWNED_AUDIT,
    "keys": [{"name": "new_cardnumber_key", "attributes": ["new_cardnumber"]}],
}

# a table with change tracking off, to exercise the refusal of Prefer: odata.track-changes
SETTING = {
    "logical": "new_setting", "set": "new_settings", "schema": "new_Setting", "id": "new_settingid",
    "name": "new_name", "display": "Setting", "plural": "Settings", "otc": 10004,
    "ownership": "OrganizationOwned", "change_tracking": False, "custom": True, "activity": False,
    "attributes": [
        {"name": "new_settingid", "type": "Uniqueidentifier", "label": "Setting", "update": False},
        {"name": "new_name", "type": "String", "max": 100, "label": "Name"},
        {"name": "new_value", "type": "Memo", "max": 4000, "label": "Value"},
    ] + AUDIT,
    "keys": [],
}

DEFAULT_CUSTOM_TABLES = [EMAIL_EVENT, MEMBERSHIP, MEMBERSHIP_CARD, SETTING]

# AttributeType -> (metadata @odata.type, AttributeTypeName, Edm type)
TYPE_INFO = {
    "Uniqueidentifier": ("AttributeMetadata", "UniqueidentifierType", "Edm.Guid"),
    "String": ("StringAttributeMetadata", "StringType", "Edm.String"),
    "Memo": ("MemoAttributeMetadata", "MemoType", "Edm.String"),
    "Integer": ("IntegerAttributeMetadata", "IntegerType", "Edm.Int32"),
    "BigInt": ("BigIntAttributeMetadata", "BigIntType", "Edm.Int64"),
    "Decimal": ("DecimalAttributeMetadata", "DecimalType", "Edm.Decimal"),
    "Money": ("MoneyAttributeMetadata", "MoneyType", "Edm.Decimal"),
    "Double": ("DoubleAttributeMetadata", "DoubleType", "Edm.Double"),
    "Boolean": ("BooleanAttributeMetadata", "BooleanType", "Edm.Boolean"),
    "DateTime": ("DateTimeAttributeMetadata", "DateTimeType", "Edm.DateTimeOffset"),
    "Picklist": ("PicklistAttributeMetadata", "PicklistType", "Edm.Int32"),
    "State": ("StateAttributeMetadata", "StateType", "Edm.Int32"),
    "Status": ("StatusAttributeMetadata", "StatusType", "Edm.Int32"),
    "Lookup": ("LookupAttributeMetadata", "LookupType", "Edm.Guid"),
    "Customer": ("LookupAttributeMetadata", "CustomerType", "Edm.Guid"),
    "Owner": ("LookupAttributeMetadata", "OwnerType", "Edm.Guid"),
}
LOOKUP_TYPES = ("Lookup", "Customer", "Owner")
