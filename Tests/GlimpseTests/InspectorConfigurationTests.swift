import GlimpseApp
import GlimpseCore
import GlimpseInspector
import Testing

/// `[image_format]` options of the format inspector, read with Glance's names.
@Suite struct InspectorConfigurationTests {
    @Test func defaultsAreGlances() throws {
        let c = try GlimpseConfiguration.load(file: nil, environment: [:], flags: [:])
        #expect(c.service.inspector == InspectorOptions())
        #expect(c.service.inspector.vmdkAllowedTypes == ["streamOptimized", "monolithicSparse"])
        #expect(c.service.inspector.requireImageFormatMatch)
        #expect(c.service.inspector.gptSafetyChecksNonfatal.isEmpty)
    }

    @Test func readsTheImageFormatSection() throws {
        let ini = try INIFile(parsing: """
            [image_format]
            vmdk_allowed_types = monolithicSparse
            require_image_format_match = False
            gpt_safety_checks_nonfatal = mbr, gptmbr
            """)
        let c = try GlimpseConfiguration.load(file: ini, environment: [:], flags: [:])
        #expect(c.service.inspector == InspectorOptions(
            vmdkAllowedTypes: ["monolithicSparse"], requireImageFormatMatch: false, gptSafetyChecksNonfatal: ["mbr", "gptmbr"]))
        let empty = try GlimpseConfiguration.load(file: try INIFile(parsing: "[image_format]\nvmdk_allowed_types =\n"),
                                                  environment: [:], flags: [:])
        #expect(empty.service.inspector.vmdkAllowedTypes.isEmpty)
    }

    @Test func refusesBadValues() throws {
        #expect(throws: (any Error).self) {
            try GlimpseConfiguration.load(file: try INIFile(parsing: "[image_format]\nrequire_image_format_match = maybe\n"),
                                          environment: [:], flags: [:])
        }
        #expect(throws: (any Error).self) {
            try GlimpseConfiguration.load(file: try INIFile(parsing: "[image_format]\ngpt_safety_checks_nonfatal = everything\n"),
                                          environment: [:], flags: [:])
        }
    }
}
