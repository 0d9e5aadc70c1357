/// `compression=slots`: the compression cache laid out in fixed slots of half a page (2 KiB of
/// a 4 KiB page), as ESX stores compressed pages (docs/MODEL.md "Compression cache"): a page
/// that compresses to at most half a page takes one slot whatever its compressed size, so a
/// machine page holds two; one that does not goes to swap (`compressionThreshold` above 0.5
/// acts as 0.5). Everything else is `compression=on`'s contract with `charge` = half a page.
final class SlotCompressionCache: CompressionCache {
    static let registration = SwapTiers.Registration(
        implementation: Implementation(
            name: "slots",
            summary:
                "the compression cache in half-page slots (ESX): a page that compresses to half a page or less takes one slot"
        ),
        make: { vm, p, bytes in
            SlotCompressionCache(
                pageBytes: bytes, maxPages: vm.maxPages, fraction: p.compressionCache,
                threshold: min(p.compressionThreshold, 0.5))
        })

    override func charge(_ size: UInt64) -> UInt64 { pageBytes / 2 }
}
