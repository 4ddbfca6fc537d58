// Drives Adobe's own Campaign Standard SDK, unchanged, against a Message Center server: the only
// change an ACS integration makes is the host, here by pointing the SDK's server at BASE_URL.
// Usage: node acs_sdk_call.js BASE_URL ORG CLIENT_ID TOKEN EVENT_ID BODY_JSON [mac]
// With `mac`, the calls for a Marketing Cloud tenant id (the SDK's non-deprecated ones) are used.
// Prints {"send": {status, body}, "get": {status, body}} as JSON; exits 1 if a call failed.
const sdk = require('@adobe/aio-lib-campaign-standard')

async function main () {
  const [baseUrl, org, clientId, token, eventId, bodyJson, style] = process.argv.slice(2)
  const campaign = await sdk.init(org, clientId, token)
  campaign.sdk.spec.servers = [{ url: `${baseUrl}/{ORGANIZATION}/campaign`, variables: { ORGANIZATION: { default: org } } }]
  const body = JSON.parse(bodyJson)
  const sent = style === 'mac'
    ? await campaign.sendTransactionalEventForMacTenantId(org, eventId, body)
    : await campaign.sendTransactionalEvent(eventId, body)
  const got = style === 'mac'
    ? await campaign.getTransactionalEventForMacTenantId(org, eventId, sent.body.PKey)
    : await campaign.getTransactionalEvent(eventId, sent.body.PKey)
  console.log(JSON.stringify({ send: { status: sent.status, body: sent.body }, get: { status: got.status, body: got.body } }))
}

main().catch(err => {
  console.error(String(err && err.stack ? err.stack : err))
  process.exit(1)
})
