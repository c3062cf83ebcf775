/**
 * Topic taxonomy for the local analyzer's clusters.
 *
 * Each topic lists terms with a match strength. Single words match a token's
 * lemma or normal form ("crashes" → "crash"); multi-word terms are tokenized by
 * wink-nlp at load time and matched as token sequences (also by lemma). A
 * topic's score is the sum of the strengths of the distinct terms found; topics
 * scoring at least MIN_TOPIC_SCORE are reported, strongest first.
 */

export const FALLBACK_TOPIC = "general_inquiry"

/** A topic needs this much evidence to be reported (one clear keyword). */
export const MIN_TOPIC_SCORE = 1

export const MAX_TOPICS = 5

/** Topics that only make sense when the text is positive overall. */
export const POSITIVE_ONLY_TOPICS: ReadonlySet<string> = new Set(["praise"])

export interface TopicDefinition {
  readonly label: string
  readonly terms: Readonly<Record<string, number>>
}

// Words that name a thing rather than a problem with it ("app", "website", "update", "connect",
// "account", "reset", "data": a telecom customer's "my data" is their allowance, not their privacy)
// weigh under MIN_TOPIC_SCORE: alone they are no evidence ("love the new app" is not a crash,
// "any update on my refund?" is not a technical issue); with a problem word they add up.
export const TOPIC_TAXONOMY: ReadonlyArray<TopicDefinition> = [
  {
    label: "delivery_delay",
    terms: {
      "hasn't arrived": 3, "still hasn't arrived": 1, "not arrived": 2.5, "didn't arrive": 3, "never arrived": 3,
      "hasn't been delivered": 3, "not delivered": 2.5, "never delivered": 3, "never came": 1.5,
      "late delivery": 3, "where is my package": 2.5, "where is my parcel": 2.5, "supposed to arrive": 2,
      "supposed to be here": 2, "stuck in customs": 2.5, "still no tracking": 2, "still waiting for my": 2,
      "haven't received": 2, "never received": 2, "didn't receive": 3, "not received": 2.5, "hasn't come": 2.5,
      "hasn't shown up": 2.5, "taking so long": 1.5, delay: 1.5, delayed: 1.5, late: 1, overdue: 2
    }
  },
  {
    label: "shipping",
    terms: {
      shipping: 1.5, ship: 1, shipment: 1.5, delivery: 1.5, deliver: 1, courier: 1.5, package: 1, parcel: 1.5,
      tracking: 1.5, "tracking number": 1, carrier: 1, postage: 1.5, dispatch: 1.5, driver: 0.7, customs: 1,
      fedex: 1.5, ups: 1.5, dhl: 1.5, usps: 1.5
    }
  },
  {
    label: "order_status",
    terms: {
      "order status": 2.5, "where is my order": 3, "status of my order": 2.5, "track my order": 2.5,
      "order number": 1.5, order: 0.7, confirmation: 1, "confirmation email": 1.5, "shows delivered": 2,
      "says delivered": 2, "marked as delivered": 2
    }
  },
  {
    label: "billing_issue",
    terms: {
      charge: 1.5, "charged twice": 3, "double charged": 3, "billed twice": 3, bill: 1.5, billing: 2, invoice: 2,
      payment: 1.5, pay: 1, card: 1, "credit card": 1, transaction: 1.5, overcharged: 3, fee: 1.5, "late fee": 1.5,
      "wrong amount": 2.5, statement: 1, receipt: 1, "unauthorized charge": 2
    }
  },
  {
    label: "refund_request",
    terms: {
      refund: 3, refunded: 3, reimburse: 2.5, reimbursement: 2.5, "money back": 3, chargeback: 2.5,
      return: 1.5, returned: 1.5, "return label": 2
    }
  },
  {
    label: "account_access",
    terms: {
      account: 0.5, "locked out": 3, locked: 2, "access my account": 3, "can't access": 2.5, suspended: 2,
      "two-factor": 2, "2fa": 2, "verification code": 2, deactivated: 2, hacked: 2.5
    }
  },
  {
    label: "login_problem",
    terms: {
      login: 3, "log in": 3, "sign in": 3, "logging in": 3, "signing in": 3, "can't log in": 1, username: 2,
      credentials: 2, "login screen": 1
    }
  },
  {
    label: "password_reset",
    terms: {
      password: 2.5, "reset my password": 3, "reset link": 2.5, "forgot my password": 3, "password reset": 2, reset: 0.5
    }
  },
  {
    label: "technical_issue",
    terms: {
      error: 2, bug: 2, glitch: 2, "not working": 2, "doesn't work": 2, "won't load": 2.5, "won't open": 2,
      technical: 2, update: 0.5, "since the update": 2, "after the update": 2, "update broke": 2, "latest update": 1.5, sync: 1.5,
      "error message": 1, "error code": 1, loading: 1, website: 0.5, "site is down": 2.5, "website is down": 2.5,
      server: 1, outage: 2, software: 1, settings: 1, "nothing works": 2, buggy: 2, buffering: 2, lag: 1.5, laggy: 2
    }
  },
  {
    label: "app_crash",
    terms: {
      crash: 3, crashing: 3, "keeps crashing": 1, freeze: 2.5, froze: 2.5, freezing: 2.5, frozen: 2, "keeps freezing": 1, "force close": 2.5, "shuts down": 1.5,
      "app won't open": 1, "app stopped": 2, app: 0.5
    }
  },
  {
    label: "connectivity",
    terms: {
      wifi: 3, internet: 2.5, "mobile data": 2.5, throttled: 2, throttling: 2, "data speed": 2, connection: 2.5, connect: 0.5, "can't connect": 2.5, "cannot connect": 2.5,
      "won't connect": 2.5, "unable to connect": 2.5, disconnect: 2.5, "keeps dropping": 2.5, signal: 2,
      network: 2, bluetooth: 2, router: 2.5, offline: 1.5, "timing out": 2, timeout: 2, "times out": 2,
      reception: 2
    }
  },
  {
    label: "customer_service",
    terms: {
      agent: 2, "customer service": 3, "customer support": 3, support: 1.5, staff: 1.5, representative: 2, rep: 1.5,
      manager: 1.5, "spoke to": 1.5, "talk to": 1, chat: 1, chatbot: 2, "call back": 1.5, callback: 2,
      "no response": 2, "no reply": 2, "hung up": 2.5, rude: 1.5, unhelpful: 2, helpful: 1, waiter: 1.5,
      waitress: 1.5, service: 1.5, technician: 1.5, email: 0.5, replied: 1
    }
  },
  {
    label: "wait_time",
    terms: {
      "on hold": 3, hold: 1, wait: 2, waiting: 2, queue: 2.5, hour: 0.5, minute: 0.5, "wait time": 2, forever: 1.5,
      "took forever": 2, "still waiting": 1.5, slow: 1
    }
  },
  {
    label: "product_quality",
    terms: {
      quality: 2.5, broke: 2, broken: 2, defective: 3, faulty: 3, flimsy: 2.5, cheaply: 2, durable: 2,
      sturdy: 2, "fell apart": 3, "stopped working": 2, material: 1.5, plastic: 1.5, "build quality": 1,
      "well made": 2.5, "well built": 2.5, cracked: 2, scratched: 1.5, leak: 2, battery: 1.5, "poor quality": 1
    }
  },
  {
    label: "damaged_item",
    terms: {
      damaged: 3, "arrived damaged": 1, "arrived broken": 3, crushed: 2.5, dented: 2.5, shattered: 2.5,
      "came broken": 3, ruined: 2
    }
  },
  {
    label: "wrong_item",
    terms: {
      "wrong item": 3, "wrong size": 3, "wrong color": 3, "not what i ordered": 3, "wrong order": 3,
      "sent the wrong": 3, "missing items": 2.5, missing: 1.5, "order is wrong": 3, "instead of the": 1.5, "the wrong": 2.5, "wrong one": 2.5
    }
  },
  {
    label: "cancellation",
    terms: {
      cancel: 3, cancellation: 3, cancelled: 3, canceled: 3, unsubscribe: 2.5, "close my account": 3,
      terminate: 2, "end my subscription": 3, "opt out": 2
    }
  },
  {
    label: "pricing",
    terms: {
      price: 2.5, pricing: 3, expensive: 2, overpriced: 2.5, cheap: 1, affordable: 2, cost: 2,
      "too expensive": 1, discount: 2, coupon: 2, "promo code": 2.5, "discount code": 2.5, plan: 1,
      subscription: 1, value: 1, "worth the money": 2, pricey: 2
    }
  },
  {
    label: "data_privacy",
    terms: {
      privacy: 3, "personal data": 3, "my data": 0.5, data: 0.3, gdpr: 3, "delete my data": 3, "third parties": 2.5,
      "third party": 2, consent: 2, cookies: 1.5, spam: 1.5, "marketing emails": 2, breach: 3,
      "delete my account": 2.5, "selling my data": 3, "sell my data": 3, "my information": 1.5, "delete my information": 1.5,
      advertisers: 2
    }
  },
  {
    label: "praise",
    terms: {
      thank: 1.5, thanks: 1.5, "thank you": 1, appreciate: 2, kudos: 3, "great job": 3, "well done": 2.5,
      excellent: 1.5, amazing: 1.5, great: 1, awesome: 1.5, fantastic: 1.5, love: 1.5, "above and beyond": 3,
      best: 1.5, brilliant: 1.5, helpful: 1, perfect: 1.5, recommend: 1.5, wonderful: 1.5, impressed: 1.5,
      happy: 1, satisfied: 1.5, delicious: 1.5, "works perfectly": 3, "exactly as described": 3
    }
  }
]

/** Every label the local analyzer can emit, fallback included. */
export const TOPIC_LABELS: ReadonlyArray<string> = [...TOPIC_TAXONOMY.map((topic) => topic.label), FALLBACK_TOPIC]
