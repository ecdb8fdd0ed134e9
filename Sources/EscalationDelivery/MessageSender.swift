public import EscalationCore

/// Composes an outbox item and sends it over its channel's transport: the email hook or the
/// item's agency webhook. Anything that can never be sent (no address, no template, no
/// webhook) ends as a permanent failure that says why.
public struct MessageSender: Sendable {
    public let composer: MessageComposer
    /// The email hook; emails are not served without it (and a sender address).
    public let mail: (any MailTransport)?
    public let from: MailAddress?
    /// Webhooks are not served without it (no secret configured).
    public let webhook: WebhookTransport?

    public init(composer: MessageComposer, mail: (any MailTransport)?, from: MailAddress?, webhook: WebhookTransport?) {
        self.composer = composer
        self.mail = mail
        self.from = from
        self.webhook = webhook
    }

    /// The channels this sender serves.
    public var channels: [DeliveryChannel] { (mail == nil || from == nil ? [] : [.email]) + (webhook == nil ? [] : [.webhook]) }

    /// Sends `item`; the outcome and the transport's name, or nil when this sender does not
    /// serve the item's channel.
    public func send(_ item: OutboxItem, directory: Directory) async -> (outcome: DeliveryOutcome, transport: String)? {
        switch item.channel {
        case .email:
            guard let mail, let from else { return nil }
            switch composer.email(for: item, directory: directory, from: from) {
            case .failure(let reason): return (.permanent(reason.text), mail.name)
            case .success(let message): return (await mail.send(message), mail.name)
            }
        case .webhook:
            guard let webhook else { return nil }
            switch composer.webhook(for: item, directory: directory) {
            case .failure(let reason): return (.permanent(reason.text), "webhook")
            case .success(let post): return (await webhook.send(url: post.url, body: post.body, deliveryID: item.id), "webhook")
            }
        }
    }
}
