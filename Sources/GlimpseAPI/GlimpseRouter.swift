import Foundation
import GlimpseCore
import GlimpseDomain
import GlimpseKeystone
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore

/// Builds the whole HTTP surface: middleware in Glance's paste order (request id and errors,
/// then authentication), then the routes.
public enum GlimpseRouter {
    /// `metadefs`: the metadata definitions catalog (`/v2/metadefs/…`); without it those routes are absent.
    public static func build(
        service: ImageService, configuration: APIConfiguration, jobs: BackgroundJobs, keystone: KeystoneClient? = nil,
        metadefs: MetadefService? = nil
    ) -> Router<GlimpseRequestContext> {
        let router = Router(context: GlimpseRequestContext.self)
        router.add(middleware: GlanceResponseMiddleware())
        addAuthentication(to: router, configuration: configuration, keystone: keystone)
        router.add(middleware: EmptyImageIDMiddleware())
        Versions.register(on: router)
        ImageRoutes(service: service, configuration: configuration, schemas: Schemas(formats: configuration.formats), jobs: jobs)
            .register(on: router)
        V1Routes(service: service, configuration: configuration, jobs: jobs).register(on: router)
        if let metadefs { MetadefRoutes(service: metadefs, configuration: configuration).register(on: router) }
        return router
    }

    /// The channel handlers the HTTP/1 server needs besides Hummingbird's: `Expect:
    /// 100-continue` answered at once, and zero-copy sending of image files (`regionsSent`
    /// counts those, for tests). Socket reads stay at NIO's 64 KiB at most: 256 KiB reads
    /// saved about 5% of an upload's CPU but cost 3 MiB more peak memory per upload (1 MiB
    /// reads: 16 MiB), so 16 uploads at once would hold 108 MiB instead of 89.
    public static func channelHandlers(regionsSent: NIOLockedValueBox<Int>? = nil) -> [any RemovableChannelHandler] {
        [ExpectContinueHandler(), FileRegionResponder(sentCount: regionsSent)]
    }

    /// The glance-registry API (`glimpse serve --role registry`).
    public static func buildRegistry(
        service: ImageService, configuration: APIConfiguration, jobs: BackgroundJobs, keystone: KeystoneClient? = nil
    ) -> Router<GlimpseRequestContext> {
        let router = Router(context: GlimpseRequestContext.self)
        router.add(middleware: GlanceResponseMiddleware())
        addAuthentication(to: router, configuration: configuration, keystone: keystone)
        RegistryRoutes(service: service, configuration: configuration, jobs: jobs).register(on: router)
        return router
    }

    /// Keystone when configured, noauth otherwise: one line of configuration switches them.
    static func addAuthentication(to router: Router<GlimpseRequestContext>, configuration: APIConfiguration, keystone: KeystoneClient?) {
        if let keystone {
            router.add(middleware: KeystoneAuthMiddleware(keystone: keystone))
        } else {
            router.add(middleware: NoAuthMiddleware(defaultProject: configuration.noauthDefaultProject))
        }
    }
}
